// Interop with a real OpenPGP peer: GnuPG. Fails (does not skip) when gpg is missing.
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_SEPARATOR } from './envelope.js';
import type { GeneratedKeyPair } from './keys.js';
import { PromptSigner } from './prompt-signer.js';
import { newKey, reflectionPrompt, split, tempDir } from './test-support.js';
import { verifyPrompt } from './verify.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home: { path: string; cleanup: () => Promise<void> };

function gpg(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'gpg',
      ['--batch', '--no-tty', '--homedir', home.path, ...args],
      { env: { ...process.env, GNUPGHOME: home.path, LC_ALL: 'C' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new Error(
              'gpg (GnuPG) is not installed: install the Debian package `gnupg` (apt-get install -y gnupg); the interop test needs it',
            ),
          );
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(args: readonly string[]): Promise<string> {
  const run = await gpg(args);
  if (run.code !== 0) throw new Error(`gpg ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}

async function genKey(
  uid: string,
  withSigningSubkey = false,
): Promise<{ fingerprint: string; publicKey: string }> {
  await ok([
    '--pinentry-mode',
    'loopback',
    '--passphrase',
    '',
    '--quick-gen-key',
    uid,
    'ed25519',
    'sign',
    '0',
  ]);
  const colons = await ok(['--with-colons', '--list-keys', uid]);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint for ${uid} in: ${colons}`);
  if (withSigningSubkey) {
    await ok([
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-add-key',
      fingerprint,
      'ed25519',
      'sign',
      '0',
    ]);
  }
  return { fingerprint, publicKey: await ok(['--armor', '--export', fingerprint]) };
}

async function gpgSign(fingerprint: string, text: string, extra: readonly string[] = []): Promise<string> {
  const input = join(home.path, `in-${Math.random().toString(36).slice(2)}.txt`);
  await writeFile(input, text, 'utf8');
  await ok([
    '--yes',
    '--armor',
    '--detach-sign',
    '--local-user',
    fingerprint,
    ...extra,
    '--output',
    `${input}.asc`,
    input,
  ]);
  return readFile(`${input}.asc`, 'utf8');
}

let peer: { fingerprint: string; publicKey: string };
let ours: GeneratedKeyPair;
let signer: PromptSigner;
const text = reflectionPrompt(2);

beforeAll(async () => {
  home = await tempDir('sarai-gpg-');
  await chmod(home.path, 0o700);
  const version = await gpg(['--version']);
  if (version.code !== 0) throw new Error(`gpg --version failed: ${version.stderr}`);
  peer = await genKey('GnuPG Peer <peer@example.com>');
  ours = await newKey('sarai@localhost');
  signer = await PromptSigner.fromKey(ours.privateKey);
  await ok(['--import'].concat(await writeTemp('ours.asc', ours.publicKeyArmored)));
}, 120_000);

afterAll(async () => {
  if (!home) return;
  await new Promise<void>((resolve) => {
    execFile('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home.path } }, () =>
      resolve(),
    );
  });
  await home.cleanup();
});

async function writeTemp(name: string, content: string): Promise<string[]> {
  const path = join(home.path, name);
  await writeFile(path, content, 'utf8');
  return [path];
}

describe('GnuPG → @sarai/signer', () => {
  it('a detached signature made by gpg verifies with verifyPrompt', async () => {
    const signed = `${text}${SIGNATURE_SEPARATOR}${await gpgSign(peer.fingerprint, text)}`;
    const res = await verifyPrompt(signed, { trusted: peer.publicKey });
    expect(res).toMatchObject({ valid: true, reason: 'ok', fingerprint: peer.fingerprint, text });
  });

  it('gpg --textmode signatures verify too', async () => {
    const signed = `${text}${SIGNATURE_SEPARATOR}${await gpgSign(peer.fingerprint, text, ['--textmode'])}`;
    expect((await verifyPrompt(signed, { trusted: peer.publicKey })).valid).toBe(true);
  });

  it('a gpg signature over a tampered prompt is rejected as tampered; gpg keys not trusted are rejected', async () => {
    const sig = await gpgSign(peer.fingerprint, text);
    const tampered = await verifyPrompt(`${text}.${SIGNATURE_SEPARATOR}${sig}`, { trusted: peer.publicKey });
    expect(tampered).toMatchObject({ valid: false, reason: 'tampered' });
    const untrusted = await verifyPrompt(`${text}${SIGNATURE_SEPARATOR}${sig}`, {
      trusted: ours.publicKeyArmored,
    });
    expect(untrusted).toMatchObject({ valid: false, reason: 'untrusted-key', fingerprint: peer.fingerprint });
  });

  it('a gpg signing subkey is attributed to its primary key', async () => {
    const withSub = await genKey('GnuPG Subkey <sub@example.com>', true);
    const sig = await gpgSign(withSub.fingerprint, text);
    const res = await verifyPrompt(`${text}${SIGNATURE_SEPARATOR}${sig}`, { trusted: withSub.publicKey });
    expect(res).toMatchObject({ valid: true, fingerprint: withSub.fingerprint });
  });
});

describe('@sarai/signer → GnuPG', () => {
  async function gpgVerify(sig: string, data: string): Promise<Run> {
    const [sigPath] = await writeTemp('ours-sig.asc', sig);
    const [dataPath] = await writeTemp('ours-data.txt', data);
    return gpg(['--status-fd', '1', '--verify', sigPath as string, dataPath as string]);
  }

  it('our detached signature verifies with gpg --verify', async () => {
    const parts = split(await signer.signPrompt(text));
    const run = await gpgVerify(parts.signature, parts.text);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\[GNUPG:\] GOODSIG /m);
    expect(run.stdout).toContain(`[GNUPG:] VALIDSIG ${ours.fingerprint}`);
  });

  it('gpg rejects our signature over a tampered prompt', async () => {
    const parts = split(await signer.signPrompt(text));
    const run = await gpgVerify(parts.signature, `${parts.text}tampered`);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/^\[GNUPG:\] BADSIG /m);
  });
});
