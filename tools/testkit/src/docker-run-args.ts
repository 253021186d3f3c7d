import { resolveHardening, type HardeningOptions } from './hardening.js';

/**
 * The `docker run` flags of the SARAi hardening, for code that starts a container with the docker CLI (benches,
 * scripts) instead of {@link HardenedContainer}: read-only rootfs, tmpfs /tmp (size, mode 1777), cap-drop ALL,
 * no-new-privileges, CPU, memory (= memory+swap) and pids limits, user, and `--network none` when asked. The same
 * settings as {@link resolveHardening}, so `assertHardening` holds for the container they start.
 */
export function hardenedRunArgs(options: HardeningOptions = {}): string[] {
  const h = resolveHardening(options);
  const memory = `${Math.round(h.memoryBytes / 2 ** 20)}m`;
  return [
    '--read-only',
    '--tmpfs',
    `/tmp:${h.tmpfsOptions}`,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges:true',
    '--cpus',
    String(h.nanoCpus / 1e9),
    '--memory',
    memory,
    '--memory-swap',
    memory,
    '--pids-limit',
    String(h.pidsLimit),
    '--user',
    h.user,
    ...(h.networkNone ? ['--network', 'none'] : []),
  ];
}
