import { describe, expect, it } from 'vitest';
import {
  TestkitError,
  assertHardening,
  hardeningViolations,
  insideViolations,
  resolveHardening,
  type InsideView,
  type InspectSubject,
} from './index.js';

// Recorded from `docker inspect` of `docker run --read-only --tmpfs /tmp:size=64m,mode=1777 --cap-drop ALL
// --security-opt no-new-privileges:true --memory 256m --memory-swap 256m --cpus 1 --pids-limit 128
// --network none --user 1000:1000 -v node_modules:/app/node_modules:ro` (docker 20.10, this VM).
const hardenedInspect = (): InspectSubject => ({
  Config: { User: '1000:1000' },
  HostConfig: {
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': 'size=64m,mode=1777' },
    CapDrop: ['ALL'],
    CapAdd: null,
    SecurityOpt: ['no-new-privileges:true'],
    Privileged: false,
    Memory: 268435456,
    MemorySwap: 268435456,
    NanoCpus: 1000000000,
    PidsLimit: 128,
    NetworkMode: 'none',
  },
  Mounts: [{ Type: 'bind', Source: '/work/main/node_modules', Destination: '/app/node_modules', RW: false }],
});

// Recorded from inside the same container (cgroup v1).
const hardenedView = (): InsideView => ({
  uid: 1000,
  gid: 1000,
  capEff: '0000000000000000',
  capPrm: '0000000000000000',
  capBnd: '0000000000000000',
  noNewPrivs: 1,
  rootWrite: 'EROFS',
  tmpWrite: 'ok',
  tmpMode: 0o1777,
  rootMountOptions: ['ro', 'relatime'],
  tmpMount: { fsType: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'noexec', 'relatime', 'size=65536k'] },
  cgroup: { version: 1, memoryLimit: 268435456, pidsMax: 128, cpuQuotaUs: 100000, cpuPeriodUs: 100000 },
  interfaces: ['lo'],
});

const expected = resolveHardening({ networkNone: true });

describe('resolveHardening', () => {
  it('turns options into the values docker and the kernel report', () => {
    expect(resolveHardening()).toEqual({
      user: '1000:1000',
      uid: 1000,
      gid: 1000,
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 1_000_000_000,
      pidsLimit: 128,
      tmpfsOptions: 'size=64m,mode=1777',
      tmpfsBytes: 64 * 1024 * 1024,
      networkNone: false,
    });
    expect(resolveHardening({ memoryMiB: 512, cpus: 0.5, pidsLimit: 32, tmpfsMiB: 16 })).toMatchObject({
      memoryBytes: 512 * 1024 * 1024,
      nanoCpus: 500_000_000,
      pidsLimit: 32,
      tmpfsOptions: 'size=16m,mode=1777',
    });
  });

  it('rejects a non-numeric user and non-positive limits', () => {
    expect(() => resolveHardening({ user: 'sarai' })).toThrow(TestkitError);
    expect(() => resolveHardening({ pidsLimit: 0 })).toThrow(/pidsLimit must be > 0/);
  });
});

describe('hardeningViolations (docker inspect)', () => {
  it('accepts a fully hardened container', () => {
    expect(hardeningViolations(hardenedInspect(), expected)).toEqual([]);
    expect(() => assertHardening(hardenedInspect(), expected)).not.toThrow();
  });

  it('reports every missing setting of a plain `docker run`', () => {
    const plain: InspectSubject = {
      Config: { User: '' },
      HostConfig: {
        ReadonlyRootfs: false,
        Tmpfs: null,
        CapDrop: null,
        CapAdd: null,
        SecurityOpt: null,
        Privileged: false,
        Memory: 0,
        MemorySwap: 0,
        NanoCpus: 0,
        PidsLimit: null,
        NetworkMode: 'default',
      },
      Mounts: [{ Type: 'bind', Source: '/data', Destination: '/data', RW: true }],
    };
    const violations = hardeningViolations(plain, expected);
    for (const field of [
      'ReadonlyRootfs',
      'Tmpfs',
      'CapDrop',
      'SecurityOpt',
      'HostConfig.Memory ',
      'MemorySwap',
      'NanoCpus',
      'PidsLimit',
      'Config.User',
      'NetworkMode',
      'mount /data',
    ]) {
      expect(
        violations.some((v) => v.includes(field)),
        `${field} in ${violations.join('; ')}`,
      ).toBe(true);
    }
    expect(violations).toHaveLength(11);
    expect(() => assertHardening(plain, expected)).toThrow(
      expect.objectContaining({ code: 'TESTKIT_HARDENING_VIOLATED' }),
    );
  });

  it('catches single deviations: a wrong limit, an added capability, a smaller tmpfs, privileged', () => {
    const i = hardenedInspect();
    i.HostConfig = {
      ...i.HostConfig,
      PidsLimit: 4096,
      CapAdd: ['NET_BIND_SERVICE'],
      Tmpfs: { '/tmp': 'size=8m,mode=1777' },
      Privileged: true,
    };
    expect(hardeningViolations(i, expected)).toEqual([
      'HostConfig.Tmpfs["/tmp"] is "size=8m,mode=1777", expected size=64m',
      'HostConfig.CapAdd is ["NET_BIND_SERVICE"], expected none',
      'HostConfig.Privileged is true, expected false',
      'HostConfig.PidsLimit is 4096, expected 128',
    ]);
  });
});

describe('insideViolations (seen from inside)', () => {
  it('accepts the view of a hardened container', () => {
    expect(insideViolations(hardenedView(), expected)).toEqual([]);
  });

  it('reports root, capabilities, writable rootfs, missing tmpfs, unlimited cgroups and a bridge network', () => {
    const loose: InsideView = {
      uid: 0,
      gid: 0,
      capEff: '00000000a80425fb',
      capPrm: '00000000a80425fb',
      capBnd: '00000000a80425fb',
      noNewPrivs: 0,
      rootWrite: 'ok',
      tmpWrite: 'ok',
      tmpMode: 0o1777,
      rootMountOptions: ['rw', 'relatime'],
      tmpMount: null,
      cgroup: { version: 1, memoryLimit: null, pidsMax: null, cpuQuotaUs: null, cpuPeriodUs: 100000 },
      interfaces: ['eth0', 'lo'],
    };
    expect(insideViolations(loose, expected)).toEqual([
      'uid is 0 inside, expected 1000',
      'gid is 0 inside, expected 1000',
      'CapEff is 00000000a80425fb inside, expected 0',
      'CapPrm is 00000000a80425fb inside, expected 0',
      'CapBnd is 00000000a80425fb inside, expected 0 (cap-drop ALL)',
      'NoNewPrivs is 0 inside, expected 1',
      'writing to / (error code) is "ok" inside, expected "EROFS"',
      '/ is mounted rw,relatime, expected ro',
      '/tmp is not a mount, expected tmpfs',
      '/tmp tmpfs size is undefined inside, expected "size=65536k"',
      'cgroup v1 memory limit is null inside, expected 268435456',
      'cgroup v1 pids.max is null inside, expected 128',
      'cgroup v1 CPU quota/period is null inside, expected 1',
      'network interfaces is "eth0,lo" inside, expected "lo"',
    ]);
  });
});
