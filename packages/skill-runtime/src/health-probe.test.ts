// The HEALTHCHECK's own gRPC health client (node:http2, no gRPC library): its wire encoding, probes against a real
// grpc-js server over TCP and a unix socket, and the script the images run (dist/healthcheck.js: exit codes).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { healthRequestFrame, healthStatusOf, probeHealth } from './health-probe.js';
import { socketPathOf } from './unix-address.js';
import { createLogger } from './logger.js';
import { startSkillServer } from './server.js';

const silent = createLogger({ name: 'test', level: 'silent' });
const run = promisify(execFile);
const script = fileURLToPath(new URL('../dist/healthcheck.js', import.meta.url));
/** The script's exit code and output (execFile rejects on a non-zero exit). */
const healthcheck = (...args: string[]) =>
  run(process.execPath, [script, ...args]).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );

describe('health probe encoding', () => {
  it('reads a unix socket path from `unix:/path` and `unix:///path`; a TCP address has none', () => {
    expect(socketPathOf('unix:/run/sarai/sandbox.sock')).toBe('/run/sarai/sandbox.sock');
    expect(socketPathOf('unix:///run/sarai/sandbox.sock')).toBe('/run/sarai/sandbox.sock');
    expect(socketPathOf('127.0.0.1:50051')).toBeUndefined();
  });

  it('frames HealthCheckRequest: empty for the server, field 1 with a varint length for a service', () => {
    expect([...healthRequestFrame('')]).toEqual([0, 0, 0, 0, 0]);
    expect([...healthRequestFrame('ab')]).toEqual([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
    const long = healthRequestFrame('s'.repeat(300));
    expect(long.readUInt32BE(1)).toBe(303);
    expect([...long.subarray(5, 8)]).toEqual([0x0a, 0xac, 0x02]); // 300 = 0b10_0101100
  });

  it('reads the status field, skipping unknown ones; absent = UNKNOWN (0); garbage throws', () => {
    const msg = (bytes: number[]) => Buffer.from([0, 0, 0, 0, bytes.length, ...bytes]);
    expect(healthStatusOf(msg([0x08, 0x01]))).toBe(1);
    expect(healthStatusOf(msg([0x12, 0x02, 0x68, 0x69, 0x08, 0x02]))).toBe(2);
    expect(healthStatusOf(msg([]))).toBe(0);
    expect(() => healthStatusOf(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/uncompressed/);
    expect(() => healthStatusOf(Buffer.from([0, 0, 0, 0, 9, 0x08]))).toThrow(/truncated/);
  });
});

describe('probeHealth against a real gRPC server', () => {
  it('over TCP: NOT_SERVING, then SERVING; an unknown service is the server’s NOT_FOUND; nobody listening fails — and the script exits 0 only when SERVING', async () => {
    const running = await startSkillServer({
      name: 't',
      host: '127.0.0.1',
      port: 0,
      implementation: {},
      logger: silent,
    });
    try {
      const addr = `127.0.0.1:${running.port}`;
      expect(await probeHealth(addr)).toEqual({ ok: true, status: 2, name: 'NOT_SERVING' });
      expect(await healthcheck(addr)).toMatchObject({
        code: 1,
        stdout: expect.stringContaining('NOT_SERVING'),
      });
      running.setServing(true);
      expect(await probeHealth(addr)).toEqual({ ok: true, status: 1, name: 'SERVING' });
      expect(await healthcheck(addr)).toEqual({ code: 0, stdout: `${addr} (server): SERVING\n` });
      const unknown = await probeHealth(addr, 'no.such.Service');
      expect(unknown).toMatchObject({
        ok: false,
        message: expect.stringMatching(/^gRPC status 5: .*no\.such\.Service/),
      });
      expect(await healthcheck(addr, 'no.such.Service')).toMatchObject({ code: 1 });
    } finally {
      await running.shutdown();
    }
    expect(await probeHealth('127.0.0.1:1')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(await healthcheck('127.0.0.1:1')).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('health check failed'),
    });
  });

  it('over a unix socket (the sandbox skill listens on one)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sarai-health-'));
    const running = await startSkillServer({
      name: 't',
      host: `unix:${join(dir, 'h.sock')}`,
      port: 0,
      implementation: {},
      logger: silent,
    });
    try {
      running.setServing(true);
      expect(await probeHealth(`unix:${join(dir, 'h.sock')}`)).toEqual({
        ok: true,
        status: 1,
        name: 'SERVING',
      });
      expect(await probeHealth(`unix:${join(dir, 'none.sock')}`)).toMatchObject({ ok: false });
    } finally {
      await running.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
