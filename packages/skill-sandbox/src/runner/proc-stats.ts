import { readFile } from 'node:fs/promises';

/** A sample of a running child from /proc (Linux). */
export interface ProcSample {
  /** Current resident set size, bytes. */
  rssBytes: number;
  /** Peak resident set size so far (VmHWM), bytes. */
  peakRssBytes: number;
  /** User + system CPU time so far, ms. */
  cpuMs: number;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux build Node supports). */
const USER_HZ = 100;

/** Reads /proc/<pid>/status and /proc/<pid>/stat; `undefined` once the process is gone (or off Linux). */
export async function sampleProcess(pid: number): Promise<ProcSample | undefined> {
  try {
    const [status, stat] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    const kb = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    };
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuMs: (ticks * 1000) / USER_HZ };
  } catch {
    return undefined;
  }
}
