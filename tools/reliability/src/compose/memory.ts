import { readFile } from 'node:fs/promises';

/** A container's memory from its cgroup, MiB: resident (anonymous) memory and the cgroup's peak usage. */
export interface ContainerMemory {
  /** Anonymous resident memory of every process in the container (cgroup v1 `total_rss`, v2 `anon`). */
  rssMb: number;
  /** Peak usage the kernel recorded, page cache included (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`). */
  peakMb: number;
  /** The container's memory limit (mem_limit), MiB; Infinity when it has none. */
  limitMb: number;
}

const MiB = 1024 * 1024;

/** Where a container's memory cgroup lives: cgroup v1 (cgroupfs / systemd driver) or v2. */
function candidates(id: string): Array<{ dir: string; v: 1 | 2 }> {
  return [
    { dir: `/sys/fs/cgroup/memory/docker/${id}`, v: 1 },
    { dir: `/sys/fs/cgroup/memory/system.slice/docker-${id}.scope`, v: 1 },
    { dir: `/sys/fs/cgroup/system.slice/docker-${id}.scope`, v: 2 },
    { dir: `/sys/fs/cgroup/docker/${id}`, v: 2 },
  ];
}

const statField = (stat: string, key: string): number | undefined => {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : undefined;
};

/**
 * Reads a container's memory straight from its cgroup (no `docker stats` round trip, so sampling every few seconds
 * costs nothing). `id` is the full container id. Throws when no cgroup of the container is found.
 */
export async function containerMemory(id: string): Promise<ContainerMemory> {
  for (const { dir, v } of candidates(id)) {
    const stat = await readFile(`${dir}/memory.stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue;
    const rss = v === 1 ? (statField(stat, 'total_rss') ?? statField(stat, 'rss')) : statField(stat, 'anon');
    const peak = await readFile(`${dir}/${v === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'}`, 'utf8')
      .then(Number)
      .catch(() => 0);
    const limit = await readFile(`${dir}/${v === 1 ? 'memory.limit_in_bytes' : 'memory.max'}`, 'utf8')
      .then((t) => (t.trim() === 'max' || Number(t) >= 2 ** 62 ? Infinity : Number(t) / MiB))
      .catch(() => Infinity);
    return { rssMb: (rss ?? 0) / MiB, peakMb: peak / MiB, limitMb: limit };
  }
  throw new Error(
    `no memory cgroup found for container ${id.slice(0, 12)} (cgroup v1 or v2 under /sys/fs/cgroup)`,
  );
}
