import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { Key, PrivateKey } from 'openpgp';
import type { Logger } from 'pino';
import { formatSignedPrompt } from './envelope.js';
import { SignerError, errorMessage } from './signer-error.js';
import {
  loadSigningKey,
  readArmoredKeys,
  selectKey,
  unlockPrivateKey,
  type LoadSigningKeyOptions,
} from './keys.js';

export interface PromptSignerOptions {
  /** Receives `prompt-signed` events (fingerprint, sha256 and length of the text; never the text or the key). */
  logger?: Logger;
  /** Largest prompt signed, in UTF-8 bytes (default {@link MAX_SIGN_BYTES}); larger ones: SIGNER_INVALID_INPUT. */
  maxPromptBytes?: number;
}

/**
 * Default bound on a prompt to sign: 16 MiB. Reflection prompts are a few KiB; the bound keeps one hostile caller
 * from making the signer copy and hash an arbitrarily large buffer (openpgp holds the message and its encoding).
 */
export const MAX_SIGN_BYTES = 16 * 1024 * 1024;

export interface SignOptions {
  /** Signature creation date (default now). */
  date?: Date;
}

/**
 * Signs prompts with one loaded private key. The key is held in a private field: it does not show up in
 * `JSON.stringify`, `util.inspect` or logs.
 */
export class PromptSigner {
  readonly #key: PrivateKey;
  readonly #logger: Logger | undefined;
  readonly #maxPromptBytes: number;
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  /** Upper-case 16-hex key id of the primary key. */
  readonly keyId: string;
  readonly userIds: readonly string[];

  private constructor(key: PrivateKey, options: PromptSignerOptions) {
    this.#key = key;
    this.#logger = options.logger;
    this.#maxPromptBytes = options.maxPromptBytes ?? MAX_SIGN_BYTES;
    this.fingerprint = key.getFingerprint().toUpperCase();
    this.keyId = key.getKeyID().toHex().toUpperCase();
    this.userIds = Object.freeze(key.getUserIDs());
  }

  /** Loads the key from options / `SARAI_SIGNING_KEY` / `SARAI_SIGNING_KEY_FILE` (see {@link loadSigningKey}). */
  static async load(options: LoadSigningKeyOptions & PromptSignerOptions = {}): Promise<PromptSigner> {
    return new PromptSigner(await loadSigningKey(options), options);
  }

  /**
   * From a parsed private key (decrypted, or with `passphrase`) or armored private key text (selected with `keyId`
   * when it holds several keys).
   */
  static async fromKey(
    key: PrivateKey | Key | string,
    options: PromptSignerOptions & { passphrase?: string; keyId?: string; date?: Date } = {},
  ): Promise<PromptSigner> {
    const selected =
      typeof key === 'string'
        ? selectKey(await readArmoredKeys(key, 'the given key'), options.keyId, 'the given key')
        : key;
    return new PromptSigner(await unlockPrivateKey(selected, options.passphrase, options.date), options);
  }

  /** Armored public key of the signer (what verifiers put in their trusted set). */
  get publicKeyArmored(): string {
    return this.#key.toPublic().armor();
  }

  /** Armored detached OpenPGP signature (binary signature type, over the UTF-8 bytes of `text`). */
  async signDetached(text: string, options: SignOptions = {}): Promise<string> {
    if (typeof text !== 'string')
      throw new SignerError('SIGNER_INVALID_INPUT', 'the prompt to sign must be a string');
    const max = this.#maxPromptBytes;
    // UTF-16 length ≤ UTF-8 bytes: a cheap check before counting bytes of a huge string.
    if (text.length > max || Buffer.byteLength(text, 'utf8') > max) {
      throw new SignerError(
        'SIGNER_INVALID_INPUT',
        `the prompt to sign is ${text.length > max ? `more than ${max}` : Buffer.byteLength(text, 'utf8')} bytes; at most ${max} bytes are signed (maxPromptBytes)`,
      );
    }
    try {
      const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
      return await openpgp.sign({
        message,
        signingKeys: this.#key,
        detached: true,
        format: 'armored',
        ...(options.date !== undefined ? { date: options.date } : {}),
      });
    } catch (cause) {
      const reason = errorMessage(cause);
      if (/revoked/i.test(reason))
        throw new SignerError('SIGNER_KEY_REVOKED', `key ${this.fingerprint} is revoked`, { cause });
      if (/expired/i.test(reason))
        throw new SignerError('SIGNER_KEY_EXPIRED', `key ${this.fingerprint} has expired`, { cause });
      throw new SignerError('SIGNER_SIGN_FAILED', `signing failed: ${reason}`, { cause });
    }
  }

  /** The seed's format exactly: `text + "\n\n---SIGNATURE---\n" + armoredDetachedSignature`. */
  async signPrompt(text: string, options: SignOptions = {}): Promise<string> {
    const signature = await this.signDetached(text, options);
    this.#logger?.info(
      {
        event: 'prompt-signed',
        fingerprint: this.fingerprint,
        promptSha256: createHash('sha256').update(text, 'utf8').digest('hex'),
        promptChars: text.length,
      },
      'prompt signed',
    );
    return formatSignedPrompt(text, signature);
  }

  toJSON(): { fingerprint: string; keyId: string; userIds: readonly string[] } {
    return { fingerprint: this.fingerprint, keyId: this.keyId, userIds: this.userIds };
  }
}
