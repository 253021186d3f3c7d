import { LoopError } from '@sarai/loop-core';
import { ProtoError, RpcError } from '@sarai/proto';
import { SignerError } from '@sarai/signer';
import { describe, expect, it } from 'vitest';
import { CliError, ERROR_KINDS, reportError } from './errors.js';
import { runCli } from './cli.js';

/** A package error as thrown (skill-draft, skill-image and lora-trainer are lazy-loaded by the CLI: same shape). */
const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('reportError', () => {
  it('prints every package error as one line with its code, and picks the exit status by kind', () => {
    const cases: Array<[unknown, RegExp, number]> = [
      [new CliError('CLI_USAGE', 'unknown command "x"'), /^sarai: unknown command "x"\nrun "sarai help"/, 2],
      [
        new LoopError('LOOP_SKILL_UNAVAILABLE', 'draft skill is unavailable'),
        /\[LOOP_SKILL_UNAVAILABLE\]$/,
        1,
      ],
      [
        coded('DRAFT_PROMPT_TOO_LONG', 'prompt is 9000 tokens'),
        /^sarai: prompt is 9000 tokens \[DRAFT_PROMPT_TOO_LONG\]$/,
        2,
      ],
      [coded('IMAGE_CORRUPT', 'the JPEG is truncated'), /\[IMAGE_CORRUPT\]$/, 2],
      [coded('IMAGE_CACHE_IO', 'disk full'), /\[IMAGE_CACHE_IO\]$/, 1],
      [new ProtoError('PROTO_BAD_ADDRESS', 'not an address'), /\[PROTO_BAD_ADDRESS\]$/, 2],
      [
        Object.assign(new Error('not a GGUF file'), { code: 'FORMATS_GGUF_INVALID' }),
        /\[FORMATS_GGUF_INVALID\]$/,
        2,
      ],
      [
        Object.assign(new Error('PORT: too big'), { code: 'RUNTIME_BAD_CONFIG' }),
        /\[RUNTIME_BAD_CONFIG\]$/,
        2,
      ],
    ];
    for (const [e, line, exit] of cases) {
      const r = reportError(e);
      expect(r.line).toMatch(line);
      expect(r.line).not.toMatch(/\n\s+at /);
      expect(r.exitCode).toBe(exit);
    }
  });

  it('knows every code of the trainer and the signer (no stack trace for any of them)', () => {
    for (const code of Object.keys(ERROR_KINDS)) {
      const e = code.startsWith('SIGNER_')
        ? new SignerError(code as never, `m ${code}`)
        : Object.assign(new Error(`m ${code}`), { code });
      const r = reportError(e);
      expect(r.code).toBe(code);
      expect(r.line).not.toMatch(/unexpected|\n\s+at /);
    }
  });

  it('recovers a skill error code that came back over gRPC, including codes of skills it does not know', () => {
    const busy = reportError(
      new RpcError(
        'DRAFT_QUEUE_FULL: draft skill is busy: 4 generations running; retry later',
        'RESOURCE_EXHAUSTED',
      ),
    );
    expect(busy).toEqual({
      line: 'sarai: skill error: draft skill is busy: 4 generations running; retry later [DRAFT_QUEUE_FULL, RESOURCE_EXHAUSTED]',
      exitCode: 1,
      code: 'DRAFT_QUEUE_FULL',
    });
    expect(reportError(new RpcError('WEATHER_BAD_REQUEST: city is empty', 'INVALID_ARGUMENT')).exitCode).toBe(
      2,
    );
    const unknown = reportError(new TypeError('x is undefined'));
    expect(unknown.code).toBeUndefined();
    expect(unknown.line).toMatch(/^sarai: unexpected error: TypeError: x is undefined\n\s+at /);
  });

  it('is what runCli prints', async () => {
    const err: string[] = [];
    const io = { stdout: () => undefined, stderr: (s: string) => void err.push(s), env: {} } as never;
    expect(await runCli(['no-such-command'], io)).toBe(2);
    expect(err.join('')).toBe('sarai: unknown command "no-such-command"\nrun "sarai help" for usage\n');
  });
});
