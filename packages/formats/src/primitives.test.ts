import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envBool, envInt } from './env-values.js';
import { errorMessage } from './error-message.js';
import { freePort } from './free-port.js';
import { sha256File, sha256Text } from './hash.js';
import { Prng, mulberry32 } from './prng.js';

describe('Prng / mulberry32', () => {
  it('is the reference mulberry32 sequence', () => {
    // mulberry32(1): 0.6270739405881613, ... (the published algorithm's first value), pinned.
    const r = mulberry32(1);
    expect([r(), r(), r()].map((v) => Math.round(v * 4294967296))).toEqual([
      2693262067, 11749833, 2265367787,
    ]);
    const p = new Prng(1);
    expect([p.nextU32(), p.nextU32(), p.nextU32()]).toEqual([2693262067, 11749833, 2265367787]);
  });

  it('replaces seed 0 in the class form only, and forks deterministically by label', () => {
    expect(new Prng(0).nextU32()).toBe(new Prng(0x9e3779b9).nextU32());
    expect(mulberry32(0)()).toBe(Prng.fromState(0).nextFloat());
    expect(new Prng(0).nextU32()).not.toBe(Prng.fromState(0).nextU32());
    const a = new Prng(7).fork('blk.0');
    const b = new Prng(7).fork('blk.0');
    expect(a.nextU32()).toBe(b.nextU32());
    expect(new Prng(7).fork('blk.1').nextU32()).not.toBe(new Prng(7).fork('blk.0').nextU32());
    const out = new Float32Array(1000);
    new Prng(5).fillUniform(out, 0.5);
    expect(Math.max(...out)).toBeLessThan(Math.sqrt(3) * 0.5);
    expect(Math.min(...out)).toBeGreaterThanOrEqual(-Math.sqrt(3) * 0.5);
  });
});

describe('hashing', () => {
  it('hashes files (streamed) and text to the same sha256', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sarai-formats-hash-'));
    try {
      const path = join(dir, 'f.txt');
      await writeFile(path, 'hello\n');
      expect(await sha256File(path)).toBe('5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
      expect(sha256Text('hello\n')).toBe(await sha256File(path));
      await expect(sha256File(join(dir, 'absent'))).rejects.toMatchObject({ code: 'FORMATS_IO' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('errorMessage', () => {
  it('gives the message of errors, message-bearing objects and anything else', () => {
    expect(errorMessage(new TypeError('bad'))).toBe('bad');
    expect(errorMessage({ message: 'native' })).toBe('native');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(null)).toBe('null');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage({ code: 1 })).toBe('[object Object]');
  });
});

describe('freePort', () => {
  it('returns a port a server can listen on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => s.close(resolve));
  });
});

describe('envBool / envInt', () => {
  it('reads the on/off spellings and nothing else', () => {
    for (const v of ['1', 'true', 'yes', 'on']) expect(envBool.parse(v)).toBe(true);
    for (const v of ['0', 'false', 'no', 'off', '']) expect(envBool.parse(v)).toBe(false);
    expect(envBool.safeParse('maybe').success).toBe(false);
  });

  it('coerces an integer within its bounds; a default applies when unset', () => {
    expect(envInt(1, 64).parse('8')).toBe(8);
    for (const bad of ['0', '65', '2.5', 'eight']) expect(envInt(1, 64).safeParse(bad).success).toBe(false);
    expect(envInt(1, 64).default(4).parse(undefined)).toBe(4);
  });
});
