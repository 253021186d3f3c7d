import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import type { Key, PrivateKey, PublicKey } from 'openpgp';
import { SignerError, errorMessage } from './signer-error.js';

/** Environment variables read by {@link loadSigningKey}. */
export const SIGNER_ENV = {
  /** Armored private key block(s). */
  key: 'SARAI_SIGNING_KEY',
  /** Path of a file holding armored private key block(s). */
  keyFile: 'SARAI_SIGNING_KEY_FILE',
  /** Passphrase of the private key (if it is encrypted). */
  passphrase: 'SARAI_SIGNING_PASSPHRASE',
  /** Selector of the key (fingerprint, key id, user id or e-mail), as in the seed. */
  keyId: 'GPG_KEY_ID',
} as const;

/** The seed's default `GPG_KEY_ID`; used only when the armored text holds several keys and no selector is given. */
export const DEFAULT_KEY_SELECTOR = 'sarai@localhost';

export type EnvLike = Readonly<Record<string, string | undefined>>;

export interface LoadSigningKeyOptions {
  /** Armored private key block(s). Takes precedence over every other source. */
  armoredKey?: string;
  /** File holding armored private key block(s). Used when `armoredKey` is not given. */
  keyFile?: string;
  /** Passphrase; defaults to `env.SARAI_SIGNING_PASSPHRASE`. */
  passphrase?: string;
  /**
   * Which key to use: a fingerprint (40/64 hex, spaces and `0x` allowed), a key id (16 or 8 hex), a full user id
   * (`Name <mail>`) or an e-mail. Defaults to `env.GPG_KEY_ID`; when neither is set and the text holds a single
   * key, that key is used, otherwise {@link DEFAULT_KEY_SELECTOR}.
   */
  keyId?: string;
  /** Environment to read `SARAI_SIGNING_*` / `GPG_KEY_ID` from; defaults to `process.env`. */
  env?: EnvLike;
  /** Validity is checked at this date (default now). */
  date?: Date;
}

interface KeyText {
  readonly text: string;
  /** Human description of the source, for error messages (never the content). */
  readonly origin: string;
}

async function readKeyFile(path: string, origin: string): Promise<KeyText> {
  try {
    return { text: await readFile(path, 'utf8'), origin };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new SignerError('SIGNER_KEY_FILE_UNREADABLE', `cannot read key file ${path} (${code})`, { cause });
  }
}

async function resolveKeyText(options: LoadSigningKeyOptions, env: EnvLike): Promise<KeyText> {
  if (options.armoredKey !== undefined) return { text: options.armoredKey, origin: 'the armoredKey option' };
  if (options.keyFile !== undefined) return readKeyFile(options.keyFile, `key file ${options.keyFile}`);
  const inline = nonEmpty(env[SIGNER_ENV.key]);
  const file = nonEmpty(env[SIGNER_ENV.keyFile]);
  if (inline !== undefined && file !== undefined) {
    throw new SignerError(
      'SIGNER_KEY_SOURCE_CONFLICT',
      `both ${SIGNER_ENV.key} and ${SIGNER_ENV.keyFile} are set; set only one`,
    );
  }
  if (inline !== undefined) return { text: inline, origin: `$${SIGNER_ENV.key}` };
  if (file !== undefined) return readKeyFile(file, `key file ${file} ($${SIGNER_ENV.keyFile})`);
  throw new SignerError(
    'SIGNER_NO_KEY_SOURCE',
    `no signing key configured: pass a key or set ${SIGNER_ENV.key} or ${SIGNER_ENV.keyFile}`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Parses armored key block(s) (public and/or private, several blocks allowed). */
export async function readArmoredKeys(armored: string, origin = 'armored text'): Promise<Key[]> {
  if (typeof armored !== 'string' || armored.trim() === '') {
    throw new SignerError('SIGNER_BAD_KEY', `${origin} is empty`);
  }
  // readKeys() accepts one armor block; split concatenated blocks ourselves (gpg --export of several keys gives one
  // block, a hand-made file often holds several).
  const blocks = armored.match(
    /-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g,
  );
  if (!blocks) throw new SignerError('SIGNER_BAD_KEY', `${origin} holds no armored OpenPGP key block`);
  const keys: Key[] = [];
  for (const block of blocks) {
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys: block })));
    } catch (cause) {
      throw new SignerError(
        'SIGNER_BAD_KEY',
        `${origin} holds a corrupt OpenPGP key block: ${errorMessage(cause)}`,
        {
          cause,
        },
      );
    }
  }
  return keys;
}

const HEX_SELECTOR = /^(?:[0-9a-f]{8}|[0-9a-f]{16}|[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Normalized hex selector (fingerprint / key id) or null when `selector` is a user id. */
function hexSelector(selector: string): string | null {
  const compact = selector.replace(/\s+/g, '').toLowerCase().replace(/^0x/, '');
  return HEX_SELECTOR.test(compact) ? compact : null;
}

/** True when `key` (primary or a subkey) matches a fingerprint / key id, or one of its user ids matches. */
export function keyMatches(key: Key, selector: string): boolean {
  const hex = hexSelector(selector);
  if (hex !== null) {
    return key.getKeys().some((k) => {
      const fpr = k.getFingerprint().toLowerCase();
      const id = k.getKeyID().toHex().toLowerCase();
      if (hex.length >= 40) return fpr === hex;
      return hex.length === 16 ? id === hex : id.endsWith(hex);
    });
  }
  const wanted = selector.trim();
  const wantedEmail = (/^<(.+)>$/.exec(wanted)?.[1] ?? wanted).toLowerCase();
  return key.users.some((user) => {
    const uid = user.userID;
    if (!uid) return false;
    return uid.userID === wanted || (uid.email !== '' && uid.email.toLowerCase() === wantedEmail);
  });
}

function describeKey(key: Key): string {
  const uids = key.getUserIDs();
  return `${key.getFingerprint().toUpperCase()}${uids.length > 0 ? ` (${uids.join(', ')})` : ''}`;
}

/** Picks the single key matching `selector` from `keys`. */
export function selectKey(
  keys: readonly Key[],
  selector: string | undefined,
  origin = 'the key source',
): Key {
  if (keys.length === 0) throw new SignerError('SIGNER_BAD_KEY', `${origin} holds no key`);
  if (selector === undefined) {
    if (keys.length === 1) return keys[0] as Key;
    selector = DEFAULT_KEY_SELECTOR;
  }
  if (selector.trim() === '') throw new SignerError('SIGNER_INVALID_INPUT', 'the key selector is empty');
  const matches = keys.filter((key) => keyMatches(key, selector));
  // A file may hold the private and the public block of the same key: prefer the private one.
  const unique = new Map<string, Key>();
  for (const key of matches) {
    const fpr = key.getFingerprint();
    const seen = unique.get(fpr);
    if (!seen || (!seen.isPrivate() && key.isPrivate())) unique.set(fpr, key);
  }
  if (unique.size === 0) {
    throw new SignerError(
      'SIGNER_KEY_NOT_FOUND',
      `no key in ${origin} matches "${selector}"; it holds ${keys.map(describeKey).join('; ')}`,
    );
  }
  if (unique.size > 1) {
    throw new SignerError(
      'SIGNER_KEY_AMBIGUOUS',
      `${unique.size} keys in ${origin} match "${selector}": ${[...unique.values()].map(describeKey).join('; ')}; select one by fingerprint`,
    );
  }
  return [...unique.values()][0] as Key;
}

/**
 * Throws SIGNER_KEY_REVOKED / SIGNER_KEY_EXPIRED / SIGNER_NO_SIGNING_KEY unless `key` has a signing (sub)key valid
 * at `date`.
 */
export async function assertCanSign(key: Key, date = new Date()): Promise<void> {
  const fpr = key.getFingerprint().toUpperCase();
  try {
    await key.getSigningKey(undefined, date);
  } catch (cause) {
    const reason = errorMessage(cause);
    if (/revoked/i.test(reason))
      throw new SignerError('SIGNER_KEY_REVOKED', `key ${fpr} is revoked`, { cause });
    if (/expired/i.test(reason)) {
      const expiry = await key.getExpirationTime().catch(() => null);
      const when = expiry instanceof Date ? ` on ${expiry.toISOString()}` : '';
      throw new SignerError('SIGNER_KEY_EXPIRED', `key ${fpr} expired${when}`, { cause });
    }
    throw new SignerError('SIGNER_NO_SIGNING_KEY', `key ${fpr} has no valid signing key: ${reason}`, {
      cause,
    });
  }
}

/**
 * Returns a decrypted private key ready to sign. Errors (all {@link SignerError}): SIGNER_NO_KEY_SOURCE,
 * SIGNER_KEY_SOURCE_CONFLICT, SIGNER_KEY_FILE_UNREADABLE, SIGNER_BAD_KEY, SIGNER_KEY_NOT_FOUND, SIGNER_KEY_AMBIGUOUS,
 * SIGNER_PUBLIC_KEY_ONLY, SIGNER_KEY_REVOKED, SIGNER_KEY_EXPIRED, SIGNER_NO_SIGNING_KEY, SIGNER_PASSPHRASE_REQUIRED,
 * SIGNER_BAD_PASSPHRASE.
 */
export async function loadSigningKey(options: LoadSigningKeyOptions = {}): Promise<PrivateKey> {
  const env = options.env ?? process.env;
  const source = await resolveKeyText(options, env);
  const keys = await readArmoredKeys(source.text, source.origin);
  const selector = options.keyId ?? nonEmpty(env[SIGNER_ENV.keyId]);
  const key = selectKey(keys, selector, source.origin);
  return unlockPrivateKey(key, options.passphrase ?? env[SIGNER_ENV.passphrase], options.date);
}

/** Checks that `key` is a usable private key and decrypts it if needed. */
export async function unlockPrivateKey(
  key: Key,
  passphrase: string | undefined,
  date = new Date(),
): Promise<PrivateKey> {
  const fpr = key.getFingerprint().toUpperCase();
  if (!key.isPrivate()) {
    throw new SignerError(
      'SIGNER_PUBLIC_KEY_ONLY',
      `key ${fpr} is a public key; a private key is needed to sign`,
    );
  }
  await assertCanSign(key, date);
  if (key.isDecrypted()) return key;
  if (passphrase === undefined || passphrase === '') {
    throw new SignerError(
      'SIGNER_PASSPHRASE_REQUIRED',
      `key ${fpr} is passphrase-protected; set ${SIGNER_ENV.passphrase} or pass a passphrase`,
    );
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (cause) {
    const reason = errorMessage(cause);
    if (/passphrase/i.test(reason)) {
      throw new SignerError('SIGNER_BAD_PASSPHRASE', `wrong passphrase for key ${fpr}`, { cause });
    }
    throw new SignerError('SIGNER_BAD_KEY', `cannot decrypt key ${fpr}: ${reason}`, { cause });
  }
}

export interface GenerateSigningKeyOptions {
  name: string;
  email: string;
  /** Encrypts the private key when given (non-empty). */
  passphrase?: string;
  /** Creation date (default now). */
  date?: Date;
  /** Seconds after creation at which the key expires (default: never). */
  expiresInSeconds?: number;
}

export interface GeneratedKeyPair {
  readonly privateKeyArmored: string;
  readonly publicKeyArmored: string;
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  readonly privateKey: PrivateKey;
  readonly publicKey: PublicKey;
}

/**
 * Generates a sign-only Ed25519 key (OpenPGP v4, EdDSA "legacy" algorithm 22: the one GnuPG 2.2/2.4 generate with
 * `ed25519` and verify) with one user id `name <email>` and no encryption subkey.
 */
export async function generateSigningKeyPair(options: GenerateSigningKeyOptions): Promise<GeneratedKeyPair> {
  const name = typeof options.name === 'string' ? options.name.trim() : '';
  const email = typeof options.email === 'string' ? options.email.trim() : '';
  if (name === '' && email === '')
    throw new SignerError('SIGNER_INVALID_INPUT', 'a name or an e-mail is required');
  const passphrase = options.passphrase === '' ? undefined : options.passphrase;
  let pair: { privateKey: PrivateKey; publicKey: PublicKey };
  try {
    pair = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ ...(name !== '' ? { name } : {}), ...(email !== '' ? { email } : {}) }],
      subkeys: [],
      format: 'object',
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(options.date !== undefined ? { date: options.date } : {}),
      ...(options.expiresInSeconds !== undefined ? { keyExpirationTime: options.expiresInSeconds } : {}),
    });
  } catch (cause) {
    throw new SignerError('SIGNER_INVALID_INPUT', `cannot generate key: ${errorMessage(cause)}`, { cause });
  }
  return {
    privateKeyArmored: pair.privateKey.armor(),
    publicKeyArmored: pair.publicKey.armor(),
    fingerprint: pair.privateKey.getFingerprint().toUpperCase(),
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
  };
}
