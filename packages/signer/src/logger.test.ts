import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createSignerLogger } from './logger.js';
import { PromptSigner } from './prompt-signer.js';
import { newKey } from './test-support.js';
import { verifyPrompt } from './verify.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('signer logging', () => {
  it('logs signing and verification events with fingerprints and hashes, never the prompt or the key', async () => {
    const out = capture();
    const logger = createSignerLogger({ level: 'debug', destination: out.stream });
    const pair = await newKey('sarai@localhost', { passphrase: 'pw-never-logged' });
    const signer = await PromptSigner.fromKey(pair.privateKeyArmored, {
      passphrase: 'pw-never-logged',
      logger,
    });
    const secretPrompt = 'the user secret prompt text';
    const signed = await signer.signPrompt(secretPrompt);
    await verifyPrompt(signed, { trusted: pair.publicKey, logger });
    const lines = out.lines();
    expect(lines.map((l) => l['event'])).toEqual(['prompt-signed', 'prompt-verified']);
    expect(lines[0]).toMatchObject({ fingerprint: pair.fingerprint, promptChars: secretPrompt.length });
    expect(lines[1]).toMatchObject({ valid: true, reason: 'ok', fingerprint: pair.fingerprint });
    const raw = JSON.stringify(lines);
    expect(raw).not.toContain(secretPrompt);
    expect(raw).not.toContain('pw-never-logged');
    expect(raw).not.toContain('PGP');
  });

  it('redacts prompt and key fields a caller might add, unless revealSecrets is set', () => {
    const out = capture();
    createSignerLogger({ destination: out.stream }).info(
      { prompt: 'p', passphrase: 'x', nested: { privateKey: 'k', text: 't' } },
      'm',
    );
    expect(out.lines()[0]).toMatchObject({
      prompt: '[redacted]',
      passphrase: '[redacted]',
      nested: { privateKey: '[redacted]', text: '[redacted]' },
    });
    const open = capture();
    createSignerLogger({ destination: open.stream, revealSecrets: true }).info({ prompt: 'p' }, 'm');
    expect(open.lines()[0]).toMatchObject({ prompt: 'p' });
  });
});
