import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_SEPARATOR } from './envelope.js';
import type { GeneratedKeyPair } from './keys.js';
import { PromptSigner } from './prompt-signer.js';
import { expiredKey, newKey, reflectionPrompt, revoke, split } from './test-support.js';
import { VERIFY_REASONS, verifyPrompt, type VerifyResult } from './verify.js';

let pair: GeneratedKeyPair;
let signer: PromptSigner;
let other: GeneratedKeyPair;
const text = reflectionPrompt();
let signed: string;

beforeAll(async () => {
  pair = await newKey('sarai@localhost');
  other = await newKey('other@example.com');
  signer = await PromptSigner.fromKey(pair.privateKey);
  signed = await signer.signPrompt(text);
});

function expectInvalid(res: VerifyResult, reason: VerifyResult['reason']): void {
  expect(res.valid).toBe(false);
  expect(res.reason).toBe(reason);
  expect(res.message.length).toBeGreaterThan(10);
}

describe('signPrompt', () => {
  it('returns text + "\\n\\n---SIGNATURE---\\n" + an armored detached signature', async () => {
    expect(signed.startsWith(text + SIGNATURE_SEPARATOR)).toBe(true);
    const block = signed.slice(text.length + SIGNATURE_SEPARATOR.length);
    expect(block).toMatch(/^-----BEGIN PGP SIGNATURE-----\n\n[\s\S]+\n-----END PGP SIGNATURE-----\n$/);
    const sig = await openpgp.readSignature({ armoredSignature: block });
    expect(sig.packets).toHaveLength(1);
    expect(sig.packets[0]?.signatureType).toBe(openpgp.enums.signature.binary);
    expect(sig.getSigningKeyIDs()[0]?.toHex().toUpperCase()).toBe(signer.keyId);
  });

  it('exposes the fingerprint and user ids but never the key', () => {
    expect(signer.fingerprint).toBe(pair.fingerprint);
    expect(signer.userIds).toEqual(['SARAi Test <sarai@localhost>']);
    expect(JSON.stringify(signer)).not.toContain('PRIVATE');
    expect(signer.publicKeyArmored).toContain('BEGIN PGP PUBLIC KEY BLOCK');
  });
});

describe('verifyPrompt', () => {
  it('accepts a prompt signed by a trusted key (armored public key, key object, or in a list)', async () => {
    for (const trusted of [
      pair.publicKeyArmored,
      pair.publicKey,
      [other.publicKeyArmored, pair.publicKeyArmored],
    ]) {
      const res = await verifyPrompt(signed, { trusted });
      expect(res).toMatchObject({ valid: true, reason: 'ok', fingerprint: pair.fingerprint, text });
      expect(res.signedAt).toBeInstanceOf(Date);
    }
  });

  it('accepts a private key in the trusted set (only its public part is used)', async () => {
    expect((await verifyPrompt(signed, { trusted: pair.privateKeyArmored })).valid).toBe(true);
  });

  it('verifies prompts containing the separator itself, and empty prompts', async () => {
    const tricky = `user says:${SIGNATURE_SEPARATOR}-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n`;
    const res = await verifyPrompt(await signer.signPrompt(tricky), { trusted: pair.publicKeyArmored });
    expect(res).toMatchObject({ valid: true, text: tricky });
    expect((await verifyPrompt(await signer.signPrompt(''), { trusted: pair.publicKey })).valid).toBe(true);
  });

  it('tampered prompt → tampered', async () => {
    const parts = split(signed);
    const edited =
      parts.text.replace('Iteration 1/3', 'Iteration 2/3') + SIGNATURE_SEPARATOR + parts.signature;
    expectInvalid(await verifyPrompt(edited, { trusted: pair.publicKeyArmored }), 'tampered');
    // whitespace / line-ending changes are tampering too (binary signature, no canonicalization)
    const crlf = parts.text.replace(/\n/g, '\r\n') + SIGNATURE_SEPARATOR + parts.signature;
    expectInvalid(await verifyPrompt(crlf, { trusted: pair.publicKeyArmored }), 'tampered');
    const appended = 'x' + signed;
    expectInvalid(await verifyPrompt(appended, { trusted: pair.publicKeyArmored }), 'tampered');
  });

  it('signature moved onto another prompt → tampered', async () => {
    const parts = split(signed);
    expectInvalid(
      await verifyPrompt(`another prompt${SIGNATURE_SEPARATOR}${parts.signature}`, {
        trusted: pair.publicKey,
      }),
      'tampered',
    );
  });

  it('signature from a key outside the trusted set → untrusted-key, naming the issuer', async () => {
    const res = await verifyPrompt(signed, { trusted: other.publicKeyArmored });
    expectInvalid(res, 'untrusted-key');
    expect(res.fingerprint).toBe(pair.fingerprint);
    expect(res.message).toContain(pair.fingerprint);
  });

  it('a key whose fingerprint differs but user id matches is still untrusted', async () => {
    const impostor = await newKey('sarai@localhost');
    const forged = await (await PromptSigner.fromKey(impostor.privateKey)).signPrompt(text);
    expectInvalid(await verifyPrompt(forged, { trusted: pair.publicKeyArmored }), 'untrusted-key');
  });

  it('expired key → key-expired (even though it was valid when it signed)', async () => {
    const { pair: old, validAt } = await expiredKey();
    const oldSigner = await PromptSigner.fromKey(old.privateKey, { date: validAt });
    const oldSigned = await oldSigner.signPrompt(text, { date: validAt });
    expectInvalid(await verifyPrompt(oldSigned, { trusted: old.publicKeyArmored }), 'key-expired');
    // ...and valid when verified at a date inside the key's lifetime
    const atTheTime = await verifyPrompt(oldSigned, {
      trusted: old.publicKeyArmored,
      date: new Date(validAt.getTime() + 1000),
    });
    expect(atTheTime.valid).toBe(true);
  });

  it('revoked key → key-revoked', async () => {
    const victim = await newKey('victim@example.com');
    const victimSigned = await (await PromptSigner.fromKey(victim.privateKey)).signPrompt(text);
    const revoked = await revoke(victim);
    expectInvalid(await verifyPrompt(victimSigned, { trusted: revoked.publicKeyArmored }), 'key-revoked');
  });

  it('no signature block → missing-signature', async () => {
    expectInvalid(await verifyPrompt(text, { trusted: pair.publicKeyArmored }), 'missing-signature');
    expectInvalid(
      await verifyPrompt(signed.replace(SIGNATURE_SEPARATOR, '\n\n---SIGNATUR---\n'), {
        trusted: pair.publicKey,
      }),
      'missing-signature',
    );
  });

  it('garbled signature block → garbled-signature', async () => {
    const parts = split(signed);
    const lines = parts.signature.split('\n');
    const variants = [
      `${parts.text}${SIGNATURE_SEPARATOR}`,
      `${parts.text}${SIGNATURE_SEPARATOR}not a signature at all\n`,
      `${parts.text}${SIGNATURE_SEPARATOR}${lines.slice(0, 3).join('\n')}\n`, // truncated armor
      `${parts.text}${SIGNATURE_SEPARATOR}${parts.signature.replace(/^(.{40})./m, '$1!')}`, // corrupt base64
      `${parts.text}${SIGNATURE_SEPARATOR}${pair.publicKeyArmored}`, // an armored key, not a signature
    ];
    for (const variant of variants) {
      expectInvalid(await verifyPrompt(variant, { trusted: pair.publicKeyArmored }), 'garbled-signature');
    }
  });

  it('empty trusted set → no-trusted-keys (nothing is valid by default)', async () => {
    for (const trusted of [[], '', '   ', undefined]) {
      expectInvalid(await verifyPrompt(signed, { trusted }), 'no-trusted-keys');
    }
    // @ts-expect-error: options omitted on purpose
    expectInvalid(await verifyPrompt(signed), 'no-trusted-keys');
  });

  it('unparseable trusted key → invalid-trusted-key', async () => {
    expectInvalid(await verifyPrompt(signed, { trusted: 'hello' }), 'invalid-trusted-key');
    expectInvalid(
      await verifyPrompt(signed, {
        trusted: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----',
      }),
      'invalid-trusted-key',
    );
  });

  it('gives seven distinct reasons for the seven failure cases', async () => {
    const parts = split(signed);
    const { pair: old, validAt } = await expiredKey();
    const expiredSigned = await (
      await PromptSigner.fromKey(old.privateKey, { date: validAt })
    ).signPrompt(text, { date: validAt });
    const revoked = await revoke(pair);
    const trusted = pair.publicKeyArmored;
    const reasons = [
      (await verifyPrompt(`${parts.text}!${SIGNATURE_SEPARATOR}${parts.signature}`, { trusted })).reason,
      (await verifyPrompt(signed, { trusted: other.publicKeyArmored })).reason,
      (await verifyPrompt(expiredSigned, { trusted: old.publicKeyArmored })).reason,
      (await verifyPrompt(signed, { trusted: revoked.publicKeyArmored })).reason,
      (await verifyPrompt(text, { trusted })).reason,
      (await verifyPrompt(`${text}${SIGNATURE_SEPARATOR}garbage`, { trusted })).reason,
      (await verifyPrompt(signed, { trusted: [] })).reason,
    ];
    expect(reasons).toEqual([
      'tampered',
      'untrusted-key',
      'key-expired',
      'key-revoked',
      'missing-signature',
      'garbled-signature',
      'no-trusted-keys',
    ]);
    expect(new Set(reasons).size).toBe(7);
    for (const reason of reasons) expect(VERIFY_REASONS).toContain(reason);
  });

  it('never throws and never validates on hostile input', async () => {
    const inputs: unknown[] = [
      undefined,
      null,
      42,
      {},
      [],
      Symbol.iterator,
      `${SIGNATURE_SEPARATOR}`,
      '\u0000'.repeat(10),
    ];
    for (const input of inputs) {
      const res = await verifyPrompt(input as string, { trusted: pair.publicKeyArmored });
      expect(res.valid).toBe(false);
    }
    const weirdTrusted: unknown[] = [42, {}, [null], [{ getFingerprint: 1 }]];
    for (const trusted of weirdTrusted) {
      const res = await verifyPrompt(signed, { trusted: trusted as string });
      expect(res.valid).toBe(false);
    }
  });

  it('accepts when one of several signatures in the block is trusted and valid', async () => {
    const both = await openpgp.sign({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(text) }),
      signingKeys: [other.privateKey, pair.privateKey],
      detached: true,
    });
    const res = await verifyPrompt(`${text}${SIGNATURE_SEPARATOR}${both}`, { trusted: pair.publicKey });
    expect(res).toMatchObject({ valid: true, fingerprint: pair.fingerprint });
  });

  it('accepts text-mode signatures over the same text (GnuPG --textmode)', async () => {
    const textSig = await openpgp.sign({
      message: await openpgp.createMessage({ text: 'line one\nline two\n' }),
      signingKeys: pair.privateKey,
      detached: true,
    });
    const res = await verifyPrompt(`line one\nline two\n${SIGNATURE_SEPARATOR}${textSig}`, {
      trusted: pair.publicKey,
    });
    expect(res.valid).toBe(true);
  });
});
