// Runs the built service (dist/main.js, the container's entrypoint) as a child process on an ephemeral port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

// Resolved through the package name so it works from src/, bench/ and compiled copies alike.
const MAIN = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@sarai/skill-image/package.json')),
  'dist',
  'main.js',
);

/** Starts dist/main.js on an ephemeral port; resolves once it logs its port. */
export async function startServiceProcess(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; logs: string[] }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '-1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        if (logs.length > 200) logs.shift();
        try {
          const j = JSON.parse(line) as { port?: number; msg?: string };
          if (j.msg === 'image skill listening' && j.port) resolve(j.port);
        } catch {
          // not JSON
        }
      }
    });
    child.stderr?.on('data', (d: Buffer) => logs.push(`stderr: ${d.toString()}`));
    child.once('exit', (code, signal) =>
      reject(new Error(`service exited (${code ?? signal}) before listening: ${logs.join('\n')}`)),
    );
    // The port comes from the "listening" log line (info level): fail rather than wait forever.
    setTimeout(
      () =>
        reject(
          new Error(
            `service did not log its port within 60 s (LOG_LEVEL must be info or lower): ${logs.join('\n')}`,
          ),
        ),
      60_000,
    ).unref();
  });
  return { child, port, logs };
}

/** SIGTERM and wait for the exit code. */
export async function stopServiceProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}
