import { TestkitError } from './errors.js';
import type { Hardening } from './hardening.js';

/** The parts of `docker inspect <container>` (or dockerode's ContainerInspectInfo) the checks read. */
export interface InspectSubject {
  Config?: { User?: string } | null;
  HostConfig?: {
    ReadonlyRootfs?: boolean;
    Tmpfs?: Record<string, string> | null;
    CapDrop?: string[] | null;
    CapAdd?: string[] | null;
    SecurityOpt?: string[] | null;
    Privileged?: boolean;
    Memory?: number;
    MemorySwap?: number;
    NanoCpus?: number;
    PidsLimit?: number | null;
    NetworkMode?: string;
  } | null;
  Mounts?: ReadonlyArray<{ Type?: string; Source?: string; Destination?: string; RW?: boolean }> | null;
}

/** Parses tmpfs options like `size=64m,mode=1777,noexec` into a map (flags map to ''). */
export function parseTmpfsOptions(options: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of options
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    map.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? '' : part.slice(eq + 1));
  }
  return map;
}

/**
 * Every way the inspected container deviates from `expected`; empty when it is hardened as required.
 * Checks: read-only rootfs, /tmp tmpfs (size, mode 1777), cap-drop ALL with nothing added, not privileged,
 * no-new-privileges, memory (and swap = memory), CPUs, pids limit, user, network none (if expected),
 * and that every bind/volume mount is read-only.
 */
export function hardeningViolations(inspect: InspectSubject, expected: Hardening): string[] {
  const v: string[] = [];
  const hc = inspect.HostConfig ?? {};
  const eq = (what: string, actual: unknown, want: unknown) => {
    if (actual !== want) v.push(`${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(want)}`);
  };

  eq('HostConfig.ReadonlyRootfs', hc.ReadonlyRootfs ?? false, true);

  const tmpfs = hc.Tmpfs?.['/tmp'];
  if (tmpfs === undefined) {
    v.push('HostConfig.Tmpfs has no /tmp entry, expected a tmpfs on /tmp');
  } else {
    const want = parseTmpfsOptions(expected.tmpfsOptions);
    const got = parseTmpfsOptions(tmpfs);
    for (const [key, value] of want) {
      if (got.get(key) !== value) v.push(`HostConfig.Tmpfs["/tmp"] is "${tmpfs}", expected ${key}=${value}`);
    }
  }

  const capDrop = (hc.CapDrop ?? []).map((c) => c.toUpperCase());
  if (!capDrop.includes('ALL'))
    v.push(`HostConfig.CapDrop is ${JSON.stringify(hc.CapDrop ?? null)}, expected it to contain "ALL"`);
  if ((hc.CapAdd ?? []).length > 0)
    v.push(`HostConfig.CapAdd is ${JSON.stringify(hc.CapAdd)}, expected none`);
  eq('HostConfig.Privileged', hc.Privileged ?? false, false);

  const nnp = (hc.SecurityOpt ?? []).some(
    (o) => o === 'no-new-privileges' || o === 'no-new-privileges:true' || o === 'no-new-privileges=true',
  );
  if (!nnp)
    v.push(
      `HostConfig.SecurityOpt is ${JSON.stringify(hc.SecurityOpt ?? null)}, expected "no-new-privileges:true"`,
    );

  eq('HostConfig.Memory', hc.Memory ?? 0, expected.memoryBytes);
  eq('HostConfig.MemorySwap', hc.MemorySwap ?? 0, expected.memoryBytes);
  eq('HostConfig.NanoCpus', hc.NanoCpus ?? 0, expected.nanoCpus);
  eq('HostConfig.PidsLimit', hc.PidsLimit ?? null, expected.pidsLimit);
  eq('Config.User', inspect.Config?.User ?? '', expected.user);
  if (expected.networkNone) eq('HostConfig.NetworkMode', hc.NetworkMode ?? '', 'none');

  for (const m of inspect.Mounts ?? []) {
    if (m.RW) v.push(`mount ${m.Source ?? '?'} -> ${m.Destination ?? '?'} is writable, expected read-only`);
  }
  return v;
}

/** Throws TESTKIT_HARDENING_VIOLATED listing every violation (see `hardeningViolations`). */
export function assertHardening(inspect: InspectSubject, expected: Hardening): void {
  const violations = hardeningViolations(inspect, expected);
  if (violations.length > 0) {
    throw new TestkitError(
      'TESTKIT_HARDENING_VIOLATED',
      `container is not hardened (docker inspect):\n- ${violations.join('\n- ')}`,
    );
  }
}
