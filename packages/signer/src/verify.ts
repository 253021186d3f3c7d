import * as openpgp from 'openpgp';
import type { Key, PublicKey, Signature } from 'openpgp';
import type { Logger } from 'pino';
import { splitSignedPrompt } from './envelope.js';
import { errorMessage } from './signer-error.js';
import { sha256Text } from '@sarai/formats';

/**
 * Why a signed prompt is (in)valid. Stable codes; `message` carries the human explanation.
 * - `ok`: a signature from a trusted, currently valid key matches the text.
 * - `no-trusted-keys`: the trusted set is empty: nothing is valid by default.
 * - `invalid-trusted-key`: an entry of the trusted set is not a parseable OpenPGP key.
 * - `missing-signature`: no `\n\n---SIGNATURE---\n` separator: the prompt is not signed.
 * - `garbled-signature`: the block after the separator is not an armored OpenPGP signature.
 * - `untrusted-key`: the signature was made by a key that is not in the trusted set.
 * - `key-revoked`: the signing key (or subkey) is revoked.
 * - `key-expired`: the signing key (or subkey) has expired at the verification date.
 * - `tampered`: the signature does not match the text (prompt or signature altered after signing).
 * - `signature-invalid`: any other verification failure (signature expired or dated in the future, not a
 *   detached binary/text signature, unsupported algorithm, ...).
 */
export const VERIFY_REASONS = [
  'ok',
  'no-trusted-keys',
  'invalid-trusted-key',
  'missing-signature',
  'garbled-signature',
  'untrusted-key',
  'key-revoked',
  'key-expired',
  'tampered',
  'signature-invalid',
] as const;

export type VerifyReason = (typeof VERIFY_REASONS)[number];

export interface VerifyResult {
  readonly valid: boolean;
  readonly reason: VerifyReason;
  /** Human explanation of `reason`. Never contains prompt text or key material. */
  readonly message: string;
  /**
   * Upper-case fingerprint of the signer: the trusted primary key when the issuer is known, else the issuer
   * fingerprint carried by the signature (if any), else null.
   */
  readonly fingerprint: string | null;
  /** Signature creation time, when the signature could be parsed. */
  readonly signedAt: Date | null;
  /** The signed text (everything before the last separator); null when there is no separator. */
  readonly text: string | null;
}

/** Armored public (or private: only the public part is used) key block(s), or already parsed keys. */
export type TrustedKeyInput = string | Key;
export type TrustedKeys = TrustedKeyInput | readonly TrustedKeyInput[];

export interface VerifyPromptOptions {
  /** The keys whose signatures are accepted. An empty set makes every prompt invalid (`no-trusted-keys`). */
  trusted: TrustedKeys | undefined;
  /** Key validity (expiry, revocation) and signature validity are evaluated at this date (default now). */
  date?: Date;
  logger?: Logger;
}

/** Parses trusted key input to public keys; throws on an unparsable entry (used where throwing is wanted). */
export async function loadTrustedKeys(trusted: TrustedKeys): Promise<PublicKey[]> {
  const list: readonly TrustedKeyInput[] = Array.isArray(trusted) ? trusted : [trusted as TrustedKeyInput];
  const keys: PublicKey[] = [];
  for (const entry of list) {
    if (typeof entry === 'string') {
      const blocks = entry.match(
        /-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g,
      );
      if (!blocks) throw new Error('not an armored OpenPGP key block');
      for (const block of blocks)
        keys.push(...(await openpgp.readKeys({ armoredKeys: block })).map((k) => k.toPublic()));
    } else if (
      entry !== null &&
      typeof entry === 'object' &&
      typeof (entry as Key).getFingerprint === 'function'
    ) {
      keys.push((entry as Key).toPublic());
    } else {
      throw new Error('not an OpenPGP key');
    }
  }
  return keys;
}

function result(
  reason: VerifyReason,
  message: string,
  extra: { fingerprint?: string | null; signedAt?: Date | null; text?: string | null } = {},
): VerifyResult {
  return {
    valid: reason === 'ok',
    reason,
    message,
    fingerprint: extra.fingerprint ?? null,
    signedAt: extra.signedAt ?? null,
    text: extra.text ?? null,
  };
}

function hex(bytes: Uint8Array | null | undefined): string | null {
  return bytes && bytes.length > 0 ? Buffer.from(bytes).toString('hex').toUpperCase() : null;
}

/** Failure ranking when several signatures fail: the most specific wins. */
const FAILURE_RANK: Record<VerifyReason, number> = {
  ok: 0,
  tampered: 1,
  'key-revoked': 2,
  'key-expired': 3,
  'signature-invalid': 4,
  'untrusted-key': 5,
  'garbled-signature': 6,
  'missing-signature': 7,
  'invalid-trusted-key': 8,
  'no-trusted-keys': 9,
};

/**
 * Verifies a seed-format signed prompt against a set of trusted keys. Never throws: every failure is a result with
 * `valid: false` and a specific `reason`. Key status is evaluated at `options.date` (default now): a prompt whose
 * signing key has since expired or been revoked is invalid. With several signatures in the block, the prompt is
 * valid when one of them is.
 */
export async function verifyPrompt(signed: string, options: VerifyPromptOptions): Promise<VerifyResult> {
  options = options ?? { trusted: undefined };
  try {
    const res = await verifyPromptUnsafe(signed, options);
    options.logger?.debug(
      {
        event: 'prompt-verified',
        valid: res.valid,
        reason: res.reason,
        fingerprint: res.fingerprint,
        promptSha256: typeof signed === 'string' ? sha256Text(signed) : null,
      },
      'prompt verification',
    );
    return res;
  } catch (cause) {
    // Defensive: openpgp.js may throw on exotic input we did not anticipate. Still a result, never valid.
    return result('signature-invalid', `verification failed: ${errorMessage(cause)}`);
  }
}

async function verifyPromptUnsafe(signed: string, options: VerifyPromptOptions): Promise<VerifyResult> {
  const date = options?.date ?? new Date();
  const trustedInput = options?.trusted;
  if (
    trustedInput === undefined ||
    trustedInput === null ||
    (Array.isArray(trustedInput) && trustedInput.length === 0) ||
    (typeof trustedInput === 'string' && trustedInput.trim() === '')
  ) {
    return result('no-trusted-keys', 'the trusted key set is empty: no signature can be accepted');
  }
  let trusted: PublicKey[];
  try {
    trusted = await loadTrustedKeys(trustedInput);
  } catch (cause) {
    return result('invalid-trusted-key', `a trusted key could not be parsed: ${errorMessage(cause)}`);
  }
  if (trusted.length === 0) {
    return result('no-trusted-keys', 'the trusted key set is empty: no signature can be accepted');
  }

  const parts = splitSignedPrompt(signed);
  if (parts === null) {
    return result('missing-signature', 'no "---SIGNATURE---" block: the prompt is not signed');
  }
  const { text } = parts;
  let signature: Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: parts.signature });
  } catch (cause) {
    return result(
      'garbled-signature',
      `the signature block is not an armored OpenPGP signature: ${errorMessage(cause)}`,
      {
        text,
      },
    );
  }
  const packets = [...signature.packets];
  if (packets.length === 0) {
    return result('garbled-signature', 'the signature block holds no signature packet', { text });
  }

  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
  let best: VerifyResult | null = null;
  for (const packet of packets) {
    const res = await verifyOne(packet, message, trusted, date, text);
    if (res.valid) return res;
    if (best === null || FAILURE_RANK[res.reason] < FAILURE_RANK[best.reason]) best = res;
  }
  return best as VerifyResult;
}

type SignaturePacket = Signature['packets'][number];

async function verifyOne(
  packet: SignaturePacket,
  message: Awaited<ReturnType<typeof openpgp.createMessage>>,
  trusted: readonly PublicKey[],
  date: Date,
  text: string,
): Promise<VerifyResult> {
  const signedAt = packet.created ?? null;
  const issuerId = packet.issuerKeyID;
  const issuerFpr = hex(packet.issuerFingerprint);
  const key = trusted.find((k) => k.getKeys(issuerId).length > 0);
  if (!key) {
    const who = issuerFpr ?? issuerId.toHex().toUpperCase();
    return result('untrusted-key', `signed by key ${who}, which is not in the trusted set`, {
      fingerprint: issuerFpr,
      signedAt,
      text,
    });
  }
  const fingerprint = key.getFingerprint().toUpperCase();
  const extra = { fingerprint, signedAt, text };

  // Key status now (or at `date`), which openpgp.js does not check: it accepts a key valid at signing time.
  try {
    await key.getSigningKey(issuerId, date);
  } catch (cause) {
    const reason = errorMessage(cause);
    if (/revoked/i.test(reason)) return result('key-revoked', `signing key ${fingerprint} is revoked`, extra);
    if (/expired/i.test(reason)) {
      const expiry = await key.getExpirationTime().catch(() => null);
      const when = expiry instanceof Date ? ` on ${expiry.toISOString()}` : '';
      return result('key-expired', `signing key ${fingerprint} expired${when}`, extra);
    }
    return result('signature-invalid', `signing key ${fingerprint} cannot be used: ${reason}`, extra);
  }

  try {
    const single = new openpgp.Signature(new openpgp.PacketList());
    single.packets.push(packet);
    const verification = await openpgp.verify({
      message,
      signature: single,
      verificationKeys: [key],
      date,
      format: 'binary',
    });
    const first = verification.signatures[0];
    if (!first)
      return result('signature-invalid', 'the block holds no data signature (binary or text)', extra);
    await first.verified;
    return result('ok', `valid signature by trusted key ${fingerprint}`, extra);
  } catch (cause) {
    const reason = errorMessage(cause);
    if (/digest did not match|signature verification failed/i.test(reason)) {
      return result(
        'tampered',
        'the signature does not match the prompt text: the prompt or its signature was altered',
        extra,
      );
    }
    if (/revoked/i.test(reason)) return result('key-revoked', `signing key ${fingerprint} is revoked`, extra);
    return result('signature-invalid', `signature rejected: ${reason}`, extra);
  }
}
