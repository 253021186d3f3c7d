import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

function readQuota(): number | undefined {
  // cgroup v2: "max 100000" or "200000 100000"
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && period) return Number(quota) / Number(period);
  } catch {
    /* not cgroup v2 */
  }
  // cgroup v1
  try {
    const quota = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'));
    const period = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'));
    if (quota > 0 && period > 0) return quota / period;
  } catch {
    /* no cgroup cpu controller visible */
  }
  return undefined;
}

/**
 * Cores this process may really use: the CPU affinity (os.availableParallelism) capped by a cgroup CPU quota
 * (`docker run --cpus 2` sets a quota, not an affinity). The default for THREADS.
 */
export function availableCores(): number {
  const cores = availableParallelism();
  const quota = readQuota();
  return quota === undefined ? cores : Math.max(1, Math.min(cores, Math.ceil(quota)));
}
