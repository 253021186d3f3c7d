import { basename, join } from 'node:path';
import {
  CONTAINER_NODE,
  ensureDockerAvailable,
  execNode,
  hardenedContainer,
  hardeningViolations,
  insideViolations,
  inspectContainer,
  probeHardening,
  type ContainerInspect,
  type InsideView,
} from '@sarai/testkit';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_INPUTS_LABEL, NODE_DIST, defaultWorkspaceRoot, ensureBaseImage } from './index.js';

const WORKSPACE = defaultWorkspaceRoot();
const LLAMA_ADDON = '/app/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node';
// Deliberately not the testkit defaults, so a limit that is silently ignored cannot pass by coincidence.
const LIMITS = { memoryMiB: 192, cpus: 0.5, pidsLimit: 64, tmpfsMiB: 32, networkNone: true } as const;
const IDLE = ['-e', "console.log('base-ready'); setInterval(() => undefined, 1 << 30)"];

/** Runs a script with node inside the container and parses the JSON it prints last. */
async function nodeJson<T>(container: StartedTestContainer, script: string): Promise<T> {
  const result = await execNode(container, script);
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? 'null') as T;
}

describe('sarai/base:node24', () => {
  let base: Awaited<ReturnType<typeof ensureBaseImage>>;
  let hardened: ReturnType<typeof hardenedContainer>;
  let container: StartedTestContainer;
  let inspect: ContainerInspect;
  let inside: InsideView;

  beforeAll(async () => {
    await ensureDockerAvailable();
    const started = performance.now();
    base = await ensureBaseImage({ log: (line) => console.info(`base-image: ${line}`) });
    console.info(
      `base-image: ${base.built ? 'built' : 'reused'} ${base.image} in ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
        `${(base.sizeBytes / 1e6).toFixed(1)} MB`,
    );
    hardened = hardenedContainer(base.image, { ...LIMITS, wait: Wait.forLogMessage('base-ready') })
      .withCommand(IDLE)
      .withBindMounts([{ source: join(WORKSPACE, 'node_modules'), target: '/app/node_modules', mode: 'ro' }]);
    container = await hardened.start();
    inspect = await inspectContainer(container);
    inside = await probeHardening(container);
  }, 180_000);

  afterAll(async () => {
    await container?.stop();
  });

  it('is labelled with its inputs and reused when nothing changed', async () => {
    const again = await ensureBaseImage();
    expect(again.built).toBe(false);
    expect(again.id).toBe(base.id);
    expect(inspect.Image).toBe(base.id);
    expect(base.inputsHash).toMatch(/^[0-9a-f]{32}$/);
    expect(base.sizeBytes).toBeGreaterThan(100e6); // node alone is ~127 MB
    expect(base.sizeBytes).toBeLessThan(160e6);
  });

  it('runs as sarai (1000:1000) in /app with NODE_ENV=production and node as entrypoint', async () => {
    expect(inspect.Config.User).toBe('1000:1000');
    expect(inspect.Config.WorkingDir).toBe('/app');
    expect(inspect.Config.Env).toContain('NODE_ENV=production');
    expect(inspect.Config.Entrypoint).toEqual([CONTAINER_NODE]);
    expect(inspect.Config.Labels?.[BASE_INPUTS_LABEL]).toBe(base.inputsHash);
    const me = await nodeJson<{ user: string; uid: number; cwd: string; env: string; version: string }>(
      container,
      "const os = require('node:os'); console.log(JSON.stringify({ user: os.userInfo().username, uid: os.userInfo().uid, " +
        'cwd: process.cwd(), env: process.env.NODE_ENV, version: process.version }));',
    );
    expect(me).toEqual({
      user: 'sarai',
      uid: 1000,
      cwd: '/app',
      env: 'production',
      version: `v${NODE_DIST.version}`,
    });
    expect(me.version.startsWith('v24.')).toBe(true);
  });

  it('holds node, exactly the libraries ldd listed and no shell or package manager', async () => {
    const fsView = await nodeJson<{
      libs: string[];
      lib64: string[];
      bins: string[];
      present: Record<string, boolean>;
      app: number;
      tmp: string;
    }>(
      container,
      "const fs = require('node:fs'); const has = (p) => fs.existsSync(p); console.log(JSON.stringify({ " +
        "libs: fs.readdirSync('/usr/lib/x86_64-linux-gnu').sort(), lib64: fs.readdirSync('/usr/lib64'), " +
        "bins: fs.readdirSync('/usr/local/bin'), app: fs.statSync('/app').uid, tmp: (fs.statSync('/tmp').mode & 0o7777).toString(8), " +
        "present: Object.fromEntries(['/bin/sh', '/usr/bin/sh', '/bin/bash', '/bin/busybox', '/usr/bin/apt-get', '/usr/bin/dpkg', " +
        "'/usr/bin/npm', '/usr/local/bin/npm', '/etc/ssl/certs'].map((p) => [p, has(p)])) }));",
    );
    const expectedLibs = base.libraries
      .filter((l) => l.includes('x86_64-linux-gnu'))
      .map((l) => basename(l))
      .sort();
    expect(fsView.libs).toEqual(expectedLibs);
    expect(expectedLibs).toEqual(
      expect.arrayContaining(['libc.so.6', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libgomp.so.1']),
    );
    expect(fsView.lib64).toEqual(['ld-linux-x86-64.so.2']);
    expect(fsView.bins).toEqual(['node']);
    expect(
      Object.values(fsView.present).every((p) => p === false),
      JSON.stringify(fsView.present),
    ).toBe(true);
    expect(fsView.app).toBe(1000);
    expect(fsView.tmp).toBe('1777');
  });

  it('is hardened according to docker inspect', () => {
    expect(hardeningViolations(inspect, hardened.hardening)).toEqual([]);
    const hc = inspect.HostConfig;
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.Tmpfs).toEqual({ '/tmp': 'size=32m,mode=1777' });
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.CapAdd ?? []).toEqual([]);
    expect(hc.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(hc.Privileged).toBe(false);
    expect(hc.Memory).toBe(192 * 1024 * 1024);
    expect(hc.MemorySwap).toBe(192 * 1024 * 1024);
    expect(hc.NanoCpus).toBe(500_000_000);
    expect(hc.PidsLimit).toBe(64);
    expect(hc.NetworkMode).toBe('none');
    expect(inspect.Config.User).toBe('1000:1000');
    expect(inspect.Mounts.map((m) => [m.Destination, m.RW])).toEqual([['/app/node_modules', false]]);
  });

  it('is hardened as seen from inside', () => {
    expect(insideViolations(inside, hardened.hardening)).toEqual([]);
    expect(inside.rootWrite).toBe('EROFS');
    expect(inside.rootMountOptions).toContain('ro');
    expect(inside.tmpWrite).toBe('ok');
    expect(inside.tmpMount).toMatchObject({ fsType: 'tmpfs' });
    expect(inside.tmpMount?.options).toContain('size=32768k');
    expect(inside.tmpMode).toBe(0o1777);
    expect([inside.uid, inside.gid]).toEqual([1000, 1000]);
    expect(BigInt(`0x${inside.capEff}`)).toBe(0n);
    expect(BigInt(`0x${inside.capBnd}`)).toBe(0n);
    expect(inside.noNewPrivs).toBe(1);
    expect(inside.cgroup.memoryLimit).toBe(192 * 1024 * 1024);
    expect(inside.cgroup.pidsMax).toBe(64);
    expect(inside.cgroup.cpuQuotaUs).toBe(50_000);
    expect(inside.cgroup.cpuPeriodUs).toBe(100_000);
    expect(inside.interfaces).toEqual(['lo']);
  });

  it('loads sharp from the mounted node_modules under Node 24 and resizes an image', async () => {
    const out = await nodeJson<{ width: number; height: number; format: string; vips: string }>(
      container,
      "import('sharp').then(async ({ default: sharp }) => { const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#c03' } }).png().toBuffer(); " +
        'const { info } = await sharp(png).resize({ width: 160 }).webp().toBuffer({ resolveWithObject: true }); ' +
        'console.log(JSON.stringify({ width: info.width, height: info.height, format: info.format, vips: sharp.versions.vips })); });',
    );
    expect(out).toMatchObject({ width: 160, height: 120, format: 'webp' });
    expect(out.vips).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("dlopens node-llama-cpp's CPU llama-addon.node under Node 24", async () => {
    const out = await nodeJson<{ exports: string[] }>(
      container,
      `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(LLAMA_ADDON)}); console.log(JSON.stringify({ exports: Object.keys(m.exports) }));`,
    );
    expect(out.exports).toEqual(expect.arrayContaining(['AddonModel', 'AddonContext', 'AddonSampler']));
  });

  it('refuses to be used unhardened without the checks noticing', async () => {
    const plain = await new GenericContainer(base.image)
      .withCommand(IDLE)
      .withWaitStrategy(Wait.forLogMessage('base-ready'))
      .start();
    try {
      const plainInspect = await inspectContainer(plain);
      const plainInside = await probeHardening(plain);
      expect(hardeningViolations(plainInspect, hardened.hardening).length).toBeGreaterThanOrEqual(8);
      const violations = insideViolations(plainInside, hardened.hardening);
      expect(plainInside.rootWrite).not.toBe('EROFS');
      expect(plainInside.noNewPrivs).toBe(0);
      expect(BigInt(`0x${plainInside.capBnd}`)).not.toBe(0n);
      expect(violations.some((v) => v.startsWith('cgroup v'))).toBe(true);
    } finally {
      await plain.stop();
    }
  });
});
