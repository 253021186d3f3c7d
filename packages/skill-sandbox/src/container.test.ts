// The real image (nx run @sarai/skill-sandbox:image), run as compose runs it: hardened, `--network none`, reached
// only through the unix socket on the /run/sarai volume (here an empty scratch directory of the test; it holds
// nothing but the socket). A canary secret is planted in the SERVICE's environment to prove children cannot read it.
import { connectSandbox, Language, StopReason, type SandboxConnection } from '@sarai/sandbox-contract';
import {
  assertHardenedInside,
  ensureDockerAvailable,
  hardenedContainer,
  hardeningViolations,
  inspectContainer,
  requireLocalImage,
} from '@sarai/testkit';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACKS, HONEST, SECRET_ENV, type Attack } from './test-support/attacks.js';
import { toWireRequest } from './test-support/wire-request.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const IMAGE = process.env['SKILL_SANDBOX_TAG'] ?? `sarai/skill-sandbox:${pkg.version}`;
const CANARY = 'service-canary-secret-7f3a';
/** Inside the container: the shared volume is the one writable place besides /tmp; the host sees what lands there. */
const MARKER = '/run/sarai/pwned';

describe(`container ${IMAGE} (network none, unix socket)`, () => {
  let socketDir: string;
  let hardened: ReturnType<typeof hardenedContainer>;
  let container: StartedTestContainer;
  let conn: SandboxConnection;

  const honest = async () => {
    const { response } = await conn.client.runTests(toWireRequest(HONEST));
    return response;
  };

  beforeAll(async () => {
    await ensureDockerAvailable();
    await requireLocalImage(IMAGE);
    socketDir = await mkdtemp(join(tmpdir(), 'sbx-socket-'));
    if (process.getuid?.() === 0) await chown(socketDir, 1000, 1000);
    else await chmod(socketDir, 0o777);
    hardened = hardenedContainer(IMAGE, { memoryMiB: 512, cpus: 1, pidsLimit: 64, networkNone: true })
      .withBindMounts([{ source: socketDir, target: '/run/sarai', mode: 'rw' }])
      .withEnvironment({ [SECRET_ENV]: CANARY });
    container = await hardened.start();
    conn = connectSandbox(`unix:${join(socketDir, 'sandbox.sock')}`);
  }, 120_000);

  afterAll(async () => {
    conn?.close();
    await container?.stop().catch(() => undefined);
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  });

  it('runs hardened: inspect and the kernel view agree, only lo inside, the socket dir its only writable mount', async () => {
    const inspect = await inspectContainer(container);
    // testkit requires every mount read-only; the socket volume must be writable to create the socket.
    expect(hardeningViolations(inspect, hardened.hardening)).toEqual([
      `mount ${socketDir} -> /run/sarai is writable, expected read-only`,
    ]);
    expect(inspect.HostConfig.NetworkMode).toBe('none');
    expect(inspect.State.Health?.Status).toBe('healthy');
    const view = await assertHardenedInside(container, hardened.hardening);
    expect(view.interfaces).toEqual(['lo']);
  });

  it('answers an honest request over the unix socket', async () => {
    const r = await honest();
    expect(r.stopReason).toBe(StopReason.OK);
    expect(r.results.every((t) => t.passed)).toBe(true);
  });

  it.each(ATTACKS.map((a) => [a.name, a] as [string, Attack]))(
    'attack "%s" fails; the service still answers and a concurrent honest request passes',
    async (_n, a) => {
      const [attack, concurrent] = await Promise.all([
        conn.client.runTests(toWireRequest(a.request(MARKER))).then((c) => c.response),
        honest(),
      ]);
      expect(attack.results.some((t) => t.passed)).toBe(false);
      expect(JSON.stringify(attack)).not.toContain(CANARY);
      expect(existsSync(join(socketDir, 'pwned'))).toBe(false);
      expect(concurrent.results.every((t) => t.passed)).toBe(true);
      expect((await honest()).results.every((t) => t.passed)).toBe(true);
    },
    60_000,
  );

  it('the exact payload of the issue: a normal test failure, no secret, no file', async () => {
    const { response } = await conn.client.runTests({
      code: [
        'function add(a, b) {',
        "  const p = this.constructor.constructor('return process')();",
        `  p.getBuiltinModule('fs').writeFileSync('${MARKER}', 'pwned');`,
        `  return p.env.${SECRET_ENV};`,
        '}',
      ].join('\n'),
      language: Language.JAVASCRIPT,
      functionName: 'add',
      tests: [{ argsJson: '[1, 2]', expectedJson: JSON.stringify(CANARY) }],
    });
    expect(response.stopReason).toBe(StopReason.OK);
    expect(response.results[0]?.passed).toBe(false);
    expect(response.results[0]?.error).not.toBe('');
    expect(JSON.stringify(response)).not.toContain(CANARY);
    expect(await readdir(socketDir)).toEqual(['sandbox.sock']);
  });

  it('leaves no working directory behind in /tmp', async () => {
    const ls = await container.exec([
      '/usr/local/bin/node',
      '-e',
      'console.log(require("fs").readdirSync("/tmp").join(","))',
    ]);
    expect(
      ls.stdout
        .trim()
        .split(',')
        .filter((f) => f.startsWith('sarai-sbx-')),
    ).toEqual([]);
  });
});
