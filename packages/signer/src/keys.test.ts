import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, selectKey, readArmoredKeys } from './keys.js';
import { PromptSigner } from './prompt-signer.js';
import { SignerError, type SignerErrorCode } from './signer-error.js';
import { expiredKey, newKey, revoke, tempDir } from './test-support.js';
import { verifyPrompt } from './verify.js';
import type { GeneratedKeyPair } from './keys.js';

let dir: { path: string; cleanup: () => Promise<void> };
let plain: GeneratedKeyPair;
let locked: GeneratedKeyPair;
let second: GeneratedKeyPair;

beforeAll(async () => {
  dir = await tempDir();
  plain = await newKey('sarai@localhost');
  locked = await newKey('locked@example.com', { passphrase: 'correct horse' });
  second = await newKey('second@example.com', { name: 'Second' });
});
afterAll(() => dir.cleanup());

async function expectCode(promise: Promise<unknown>, code: SignerErrorCode): Promise<SignerError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, got success`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SignerError);
  expect((error as SignerError).code).toBe(code);
  return error as SignerError;
}

describe('loadSigningKey sources', () => {
  it('reads SARAI_SIGNING_KEY', async () => {
    const key = await loadSigningKey({ env: { SARAI_SIGNING_KEY: plain.privateKeyArmored } });
    expect(key.getFingerprint().toUpperCase()).toBe(plain.fingerprint);
    expect(key.isDecrypted()).toBe(true);
  });

  it('reads SARAI_SIGNING_KEY_FILE and decrypts with SARAI_SIGNING_PASSPHRASE', async () => {
    const file = join(dir.path, 'locked.asc');
    await writeFile(file, locked.privateKeyArmored, { mode: 0o600 });
    const key = await loadSigningKey({
      env: { SARAI_SIGNING_KEY_FILE: file, SARAI_SIGNING_PASSPHRASE: 'correct horse' },
    });
    expect(key.getFingerprint().toUpperCase()).toBe(locked.fingerprint);
    expect(key.isDecrypted()).toBe(true);
  });

  it('explicit options win over the environment', async () => {
    const file = join(dir.path, 'plain.asc');
    await writeFile(file, plain.privateKeyArmored);
    const key = await loadSigningKey({ keyFile: file, env: { SARAI_SIGNING_KEY: 'garbage' } });
    expect(key.getFingerprint().toUpperCase()).toBe(plain.fingerprint);
    const fromText = await loadSigningKey({
      armoredKey: locked.privateKeyArmored,
      passphrase: 'correct horse',
      env: {},
    });
    expect(fromText.getFingerprint().toUpperCase()).toBe(locked.fingerprint);
  });

  it('a signer loaded from the environment signs verifiable prompts', async () => {
    const signer = await PromptSigner.load({ env: { SARAI_SIGNING_KEY: plain.privateKeyArmored } });
    const res = await verifyPrompt(await signer.signPrompt('hi'), { trusted: plain.publicKeyArmored });
    expect(res).toMatchObject({ valid: true, fingerprint: plain.fingerprint });
  });

  it('no source → SIGNER_NO_KEY_SOURCE; both env vars → SIGNER_KEY_SOURCE_CONFLICT', async () => {
    await expectCode(loadSigningKey({ env: {} }), 'SIGNER_NO_KEY_SOURCE');
    await expectCode(loadSigningKey({ env: { SARAI_SIGNING_KEY: '  ' } }), 'SIGNER_NO_KEY_SOURCE');
    await expectCode(
      loadSigningKey({ env: { SARAI_SIGNING_KEY: plain.privateKeyArmored, SARAI_SIGNING_KEY_FILE: '/x' } }),
      'SIGNER_KEY_SOURCE_CONFLICT',
    );
  });

  it('unreadable file → SIGNER_KEY_FILE_UNREADABLE', async () => {
    const err = await expectCode(
      loadSigningKey({ keyFile: join(dir.path, 'nope.asc'), env: {} }),
      'SIGNER_KEY_FILE_UNREADABLE',
    );
    expect(err.message).toContain('ENOENT');
    await expectCode(
      loadSigningKey({ env: { SARAI_SIGNING_KEY_FILE: dir.path } }),
      'SIGNER_KEY_FILE_UNREADABLE',
    );
  });

  it('not a key / corrupt key → SIGNER_BAD_KEY', async () => {
    await expectCode(loadSigningKey({ armoredKey: 'hello', env: {} }), 'SIGNER_BAD_KEY');
    await expectCode(loadSigningKey({ armoredKey: '', env: {} }), 'SIGNER_BAD_KEY');
    const corrupt = plain.privateKeyArmored.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!');
    await expectCode(loadSigningKey({ armoredKey: corrupt, env: {} }), 'SIGNER_BAD_KEY');
  });
});

describe('key selection', () => {
  const both = (): string => `${plain.privateKeyArmored}\n${second.privateKeyArmored}`;

  it('selects by fingerprint (any case, spaced, 0x), key id, e-mail, <e-mail> and full user id', async () => {
    const fpr = second.fingerprint;
    const spaced = `0x${fpr.toLowerCase().replace(/(.{4})/g, '$1 ')}`;
    const keyId = fpr.slice(-16);
    for (const keyId_ of [
      fpr,
      spaced,
      keyId,
      fpr.slice(-8),
      'second@example.com',
      '<SECOND@example.com>',
      'Second <second@example.com>',
    ]) {
      const key = await loadSigningKey({ armoredKey: both(), keyId: keyId_, env: {} });
      expect(key.getFingerprint().toUpperCase()).toBe(fpr);
    }
  });

  it('uses GPG_KEY_ID from the environment', async () => {
    const key = await loadSigningKey({ armoredKey: both(), env: { GPG_KEY_ID: 'second@example.com' } });
    expect(key.getFingerprint().toUpperCase()).toBe(second.fingerprint);
  });

  it('defaults to sarai@localhost when several keys and no selector; a single key needs no selector', async () => {
    const key = await loadSigningKey({ armoredKey: both(), env: {} });
    expect(key.getFingerprint().toUpperCase()).toBe(plain.fingerprint);
    const only = await loadSigningKey({ armoredKey: second.privateKeyArmored, env: {} });
    expect(only.getFingerprint().toUpperCase()).toBe(second.fingerprint);
  });

  it('no match → SIGNER_KEY_NOT_FOUND listing what the source holds (fingerprints and user ids only)', async () => {
    const err = await expectCode(
      loadSigningKey({ armoredKey: both(), keyId: 'nobody@example.com', env: {} }),
      'SIGNER_KEY_NOT_FOUND',
    );
    expect(err.message).toContain(second.fingerprint);
    expect(err.message).not.toContain('PRIVATE KEY');
    await expectCode(
      loadSigningKey({ armoredKey: second.privateKeyArmored, keyId: 'sarai@localhost', env: {} }),
      'SIGNER_KEY_NOT_FOUND',
    );
    const third = await newKey('third@example.com');
    await expectCode(
      loadSigningKey({ armoredKey: `${second.privateKeyArmored}${third.privateKeyArmored}`, env: {} }),
      'SIGNER_KEY_NOT_FOUND',
    );
  });

  it('several matches → SIGNER_KEY_AMBIGUOUS; the same key twice (private + public) is not ambiguous', async () => {
    const twin = await newKey('sarai@localhost');
    await expectCode(
      loadSigningKey({ armoredKey: `${plain.privateKeyArmored}${twin.privateKeyArmored}`, env: {} }),
      'SIGNER_KEY_AMBIGUOUS',
    );
    const key = await loadSigningKey({
      armoredKey: `${plain.publicKeyArmored}${plain.privateKeyArmored}`,
      env: {},
    });
    expect(key.isPrivate()).toBe(true);
  });

  it('selectKey / readArmoredKeys handle several armor blocks', async () => {
    const keys = await readArmoredKeys(
      `junk\n${plain.publicKeyArmored}\nmore junk\n${second.publicKeyArmored}`,
    );
    expect(keys.map((k) => k.getFingerprint().toUpperCase())).toEqual([
      plain.fingerprint,
      second.fingerprint,
    ]);
    expect(selectKey(keys, 'second@example.com').getFingerprint().toUpperCase()).toBe(second.fingerprint);
  });
});

describe('unusable keys', () => {
  it('public key only → SIGNER_PUBLIC_KEY_ONLY', async () => {
    await expectCode(
      loadSigningKey({ armoredKey: plain.publicKeyArmored, env: {} }),
      'SIGNER_PUBLIC_KEY_ONLY',
    );
    await expectCode(PromptSigner.fromKey(plain.publicKey), 'SIGNER_PUBLIC_KEY_ONLY');
  });

  it('encrypted key without passphrase → SIGNER_PASSPHRASE_REQUIRED; wrong one → SIGNER_BAD_PASSPHRASE', async () => {
    await expectCode(
      loadSigningKey({ armoredKey: locked.privateKeyArmored, env: {} }),
      'SIGNER_PASSPHRASE_REQUIRED',
    );
    const err = await expectCode(
      loadSigningKey({
        armoredKey: locked.privateKeyArmored,
        env: { SARAI_SIGNING_PASSPHRASE: 'wrong horse' },
      }),
      'SIGNER_BAD_PASSPHRASE',
    );
    expect(err.message).not.toContain('wrong horse');
  });

  it('expired key → SIGNER_KEY_EXPIRED', async () => {
    const { pair } = await expiredKey();
    const err = await expectCode(
      loadSigningKey({ armoredKey: pair.privateKeyArmored, env: {} }),
      'SIGNER_KEY_EXPIRED',
    );
    expect(err.message).toMatch(/expired on \d{4}-/);
  });

  it('revoked key → SIGNER_KEY_REVOKED', async () => {
    const revoked = await revoke(await newKey('gone@example.com'));
    await expectCode(
      loadSigningKey({ armoredKey: revoked.privateKeyArmored, env: {} }),
      'SIGNER_KEY_REVOKED',
    );
  });

  it('signing with a key after it expired → SIGNER_KEY_EXPIRED', async () => {
    const { pair, validAt } = await expiredKey();
    const signer = await PromptSigner.fromKey(pair.privateKey, { date: validAt });
    await expectCode(signer.signPrompt('late'), 'SIGNER_KEY_EXPIRED');
  });

  it('non-string prompt → SIGNER_INVALID_INPUT', async () => {
    const signer = await PromptSigner.fromKey(plain.privateKey);
    await expectCode(signer.signPrompt(42 as unknown as string), 'SIGNER_INVALID_INPUT');
  });
});
