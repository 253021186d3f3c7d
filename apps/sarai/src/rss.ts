import { readFile } from 'node:fs/promises';

/** Sum of the resident set sizes (MiB) of these processes (Linux /proc); processes that are gone count 0. */
export async function processTreeRssMb(pids: readonly number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (m) kb += Number(m[1]);
  }
  return kb / 1024;
}
