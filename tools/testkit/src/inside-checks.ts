import type { StartedTestContainer } from 'testcontainers';
import { TestkitError } from './errors.js';
import type { Hardening } from './hardening.js';

/** The node binary of sarai/base images. */
export const CONTAINER_NODE = '/usr/local/bin/node';

export interface ExecNodeResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node -e <script>` inside the container (exec array form: no shell is needed or used).
 * Runs as the container's user unless `user` is given.
 */
export async function execNode(
  container: StartedTestContainer,
  script: string,
  options: { nodePath?: string; user?: string; args?: readonly string[] } = {},
): Promise<ExecNodeResult> {
  const command = [options.nodePath ?? CONTAINER_NODE, '-e', script, ...(options.args ?? [])];
  const result = await container.exec(command, options.user === undefined ? {} : { user: options.user });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** What the container's own kernel view says about its hardening (read by `probeHardening`). */
export interface InsideView {
  uid: number;
  gid: number;
  /** CapEff / CapPrm / CapBnd from /proc/self/status, as hex strings. */
  capEff: string;
  capPrm: string;
  capBnd: string;
  noNewPrivs: number;
  /** Error code of writing a file in `/` (EROFS expected), or 'ok'. */
  rootWrite: string;
  /** Result of writing + reading back a file in /tmp: 'ok' or an error code. */
  tmpWrite: string;
  /** Permission bits of /tmp (0o1777 expected). */
  tmpMode: number;
  /** Options of the `/` and `/tmp` mounts in /proc/self/mounts. */
  rootMountOptions: string[];
  tmpMount: { fsType: string; options: string[] } | null;
  cgroup: {
    version: 1 | 2;
    /** bytes; null = unlimited */
    memoryLimit: number | null;
    pidsMax: number | null;
    /** CFS quota and period in µs; quota null = unlimited */
    cpuQuotaUs: number | null;
    cpuPeriodUs: number | null;
  };
  /** Network interface names (only `lo` with --network none). */
  interfaces: string[];
}

// Runs inside the container under `node -e`; prints one JSON line. Keep it dependency-free.
const PROBE_SCRIPT = String.raw`
const fs = require('node:fs');
const os = require('node:os');
const read = (f) => { try { return fs.readFileSync(f, 'utf8').trim(); } catch { return null; } };
const num = (s) => (s === null || s === 'max' || s === '-1' ? null : Number(s));
const status = read('/proc/self/status') || '';
const field = (k) => (new RegExp('^' + k + ':\\s*(\\S+)', 'm').exec(status) || [])[1] || '';
const attempt = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code || String(e); } };
const probe = '.sarai-probe-' + process.pid;
const mounts = (read('/proc/self/mounts') || '').split('\n').map((l) => l.split(' '));
const mountAt = (p) => mounts.filter((m) => m[1] === p).pop();
const root = mountAt('/');
const tmp = mountAt('/tmp');
let cgroup;
if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) {
  const cpu = (read('/sys/fs/cgroup/cpu.max') || 'max 100000').split(' ');
  cgroup = { version: 2, memoryLimit: num(read('/sys/fs/cgroup/memory.max')), pidsMax: num(read('/sys/fs/cgroup/pids.max')),
    cpuQuotaUs: num(cpu[0]), cpuPeriodUs: num(cpu[1]) };
} else {
  const mem = num(read('/sys/fs/cgroup/memory/memory.limit_in_bytes'));
  cgroup = { version: 1, memoryLimit: mem !== null && mem >= 2 ** 62 ? null : mem,
    pidsMax: num(read('/sys/fs/cgroup/pids/pids.max')),
    cpuQuotaUs: num(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? read('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us')),
    cpuPeriodUs: num(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? read('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us')) };
}
console.log(JSON.stringify({
  uid: process.getuid(), gid: process.getgid(),
  capEff: field('CapEff'), capPrm: field('CapPrm'), capBnd: field('CapBnd'), noNewPrivs: Number(field('NoNewPrivs')),
  rootWrite: attempt(() => fs.writeFileSync('/' + probe, 'x')),
  tmpWrite: attempt(() => { fs.writeFileSync('/tmp/' + probe, 'x'); if (fs.readFileSync('/tmp/' + probe, 'utf8') !== 'x') throw new Error('readback'); fs.unlinkSync('/tmp/' + probe); }),
  tmpMode: fs.statSync('/tmp').mode & 0o7777,
  rootMountOptions: root ? root[3].split(',') : [],
  tmpMount: tmp ? { fsType: tmp[2], options: tmp[3].split(',') } : null,
  cgroup, interfaces: Object.keys(os.networkInterfaces()).sort(),
}));
`;

/** Reads the hardening from inside the container with one `node -e` (no shell). */
export async function probeHardening(
  container: StartedTestContainer,
  options: { nodePath?: string } = {},
): Promise<InsideView> {
  const result = await execNode(container, PROBE_SCRIPT, options);
  if (result.exitCode !== 0) {
    throw new TestkitError(
      'TESTKIT_PROBE_FAILED',
      `hardening probe exited ${result.exitCode}: ${result.stderr || result.stdout}`,
    );
  }
  try {
    return JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as InsideView;
  } catch (cause) {
    throw new TestkitError('TESTKIT_PROBE_FAILED', `hardening probe printed no JSON: ${result.stdout}`, {
      cause,
    });
  }
}

const ZERO_CAPS = /^0+$/;

/** Every way the inside view deviates from `expected`; empty when the kernel enforces all of it. */
export function insideViolations(view: InsideView, expected: Hardening): string[] {
  const v: string[] = [];
  const eq = (what: string, actual: unknown, want: unknown) => {
    if (actual !== want)
      v.push(`${what} is ${JSON.stringify(actual)} inside, expected ${JSON.stringify(want)}`);
  };
  eq('uid', view.uid, expected.uid);
  eq('gid', view.gid, expected.gid);
  if (!ZERO_CAPS.test(view.capEff)) v.push(`CapEff is ${view.capEff} inside, expected 0`);
  if (!ZERO_CAPS.test(view.capPrm)) v.push(`CapPrm is ${view.capPrm} inside, expected 0`);
  if (!ZERO_CAPS.test(view.capBnd)) v.push(`CapBnd is ${view.capBnd} inside, expected 0 (cap-drop ALL)`);
  eq('NoNewPrivs', view.noNewPrivs, 1);
  eq('writing to / (error code)', view.rootWrite, 'EROFS');
  if (!view.rootMountOptions.includes('ro'))
    v.push(`/ is mounted ${view.rootMountOptions.join(',')}, expected ro`);
  eq('writing to /tmp', view.tmpWrite, 'ok');
  eq('/tmp mode', view.tmpMode.toString(8), '1777');
  if (view.tmpMount?.fsType !== 'tmpfs')
    v.push(`/tmp is ${view.tmpMount?.fsType ?? 'not a mount'}, expected tmpfs`);
  const size = view.tmpMount?.options.find((o) => o.startsWith('size='));
  eq('/tmp tmpfs size', size, `size=${expected.tmpfsBytes / 1024}k`);
  eq(`cgroup v${view.cgroup.version} memory limit`, view.cgroup.memoryLimit, expected.memoryBytes);
  eq(`cgroup v${view.cgroup.version} pids.max`, view.cgroup.pidsMax, expected.pidsLimit);
  const cpus =
    view.cgroup.cpuQuotaUs === null || view.cgroup.cpuPeriodUs === null
      ? null
      : view.cgroup.cpuQuotaUs / view.cgroup.cpuPeriodUs;
  eq(`cgroup v${view.cgroup.version} CPU quota/period`, cpus, expected.nanoCpus / 1e9);
  if (expected.networkNone) eq('network interfaces', view.interfaces.join(','), 'lo');
  return v;
}

/**
 * Checks the hardening from inside the running container; throws TESTKIT_HARDENING_VIOLATED listing every
 * violation. Returns the view for further assertions.
 */
export async function assertHardenedInside(
  container: StartedTestContainer,
  expected: Hardening,
  options: { nodePath?: string } = {},
): Promise<InsideView> {
  const view = await probeHardening(container, options);
  const violations = insideViolations(view, expected);
  if (violations.length > 0) {
    throw new TestkitError(
      'TESTKIT_HARDENING_VIOLATED',
      `container is not hardened (seen from inside):\n- ${violations.join('\n- ')}`,
    );
  }
  return view;
}
