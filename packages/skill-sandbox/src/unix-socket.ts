import { lstat, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { socketPathOf } from '@sarai/skill-runtime';
import { SandboxError } from './errors.js';

/**
 * Before listening on `unix:/path`: removes a socket file left by an instance that died without closing it (a
 * container restarted after SIGKILL/OOM would otherwise fail with EADDRINUSE forever). A socket something still
 * answers on is left alone and reported as SANDBOX_BAD_CONFIG.
 */
export async function removeStaleSocket(host: string): Promise<void> {
  const path = socketPathOf(host);
  if (!path) return;
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket())
    throw new SandboxError('SANDBOX_BAD_CONFIG', `HOST=${host}: ${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new SandboxError('SANDBOX_BAD_CONFIG', `HOST=${host}: another process listens on ${path}`);
  await rm(path, { force: true });
}
