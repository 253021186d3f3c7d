import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** Run children in a network namespace of their own (only a downed `lo`): `unshare --net --map-current-user`. */
export interface NetIsolation {
  /** Absolute path of util-linux `unshare`. */
  unshare: string;
}

/** Arguments that put `command args…` in a new user + network namespace (no privileges needed where userns works). */
export function netnsArgs(command: string, args: readonly string[]): string[] {
  return ['--net', '--map-current-user', command, ...args];
}

function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Checks that a child started through `unshare` really has no network: it must fail to reach a TCP server this
 * process listens on at 127.0.0.1. Resolves with the isolation to use, or the reason there is none (no `unshare`,
 * user namespaces disabled, or the connection went through).
 */
export async function probeNetIsolation(
  nodePath: string,
  envPath = process.env['PATH'],
): Promise<NetIsolation | { reason: string }> {
  const unshare = findOnPath('unshare', envPath);
  if (!unshare) return { reason: 'util-linux unshare is not installed' };
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn(unshare, netnsArgs(nodePath, ['-e', script]), {
        env: {},
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('error', (e) => resolve({ code: -1, text: e.message }));
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, text: text.trim() });
      });
    });
    if (out.code !== 0)
      return { reason: `unshare failed (${out.text.split('\n')[0] || `exit ${out.code}`})` };
    if (out.text.includes('CONNECTED'))
      return { reason: 'a child in the new namespace still reached 127.0.0.1' };
    return { unshare };
  } finally {
    server.close();
  }
}
