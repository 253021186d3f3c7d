import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RegistriesError } from './errors.js';
import { freePort, waitForHttp } from './net.js';

export interface NpmRegistry {
  /** e.g. `http://127.0.0.1:4873/` (trailing slash, as npm writes registry URLs). */
  readonly url: string;
  /** The `.npmrc` key prefix of this registry, e.g. `//127.0.0.1:4873/`. */
  readonly authKey: string;
  /** Creates a user (or logs in) and returns its bearer token. */
  addUser(name: string, password: string): Promise<string>;
  /** The registry's own log lines so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface VerdaccioOptions {
  /** Directory for config, storage and the htpasswd file (created). */
  dir: string;
  /** Scope served from this registry only (no uplink): publish needs a user, read is open. Default `@sarai`. */
  scope?: string;
  /** Uplink other packages are proxied from (e.g. the public registry); default none (only the scope is served). */
  uplink?: string;
  startTimeoutMs?: number;
}

/** Path of Verdaccio's CLI (the devDependency `verdaccio@6.8.0`, the last that runs on Node 20). */
export function verdaccioBin(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('verdaccio/package.json')), 'bin', 'verdaccio');
  } catch (e) {
    throw new RegistriesError(
      'REGISTRIES_NOT_INSTALLED',
      'verdaccio is not installed: run npm ci at the workspace root',
      {
        cause: e,
      },
    );
  }
}

/** Verdaccio's config: storage and users in `dir`, the scope private (no uplink), anyone may read. */
export function verdaccioConfig(opts: {
  dir: string;
  listen: string;
  scope: string;
  uplink?: string;
}): string {
  const proxy = opts.uplink ? '\n    proxy: upstream' : '';
  return [
    `storage: ${JSON.stringify(join(opts.dir, 'storage'))}`,
    `listen: ${opts.listen}`,
    'auth:',
    '  htpasswd:',
    `    file: ${JSON.stringify(join(opts.dir, 'htpasswd'))}`,
    '    max_users: 100',
    ...(opts.uplink ? ['uplinks:', '  upstream:', `    url: ${JSON.stringify(opts.uplink)}`] : []),
    'packages:',
    `  '${opts.scope}/*':`,
    '    access: $all',
    '    publish: $authenticated',
    '    unpublish: $authenticated',
    `  '**':`,
    `    access: $all`,
    `    publish: $authenticated${proxy}`,
    'server:',
    '  keepAliveTimeout: 60',
    'log: { type: stdout, format: json, level: warn }',
    '',
  ].join('\n');
}

/** Starts a private npm registry (Verdaccio) on a free loopback port. */
export async function startVerdaccio(opts: VerdaccioOptions): Promise<NpmRegistry> {
  await mkdir(join(opts.dir, 'storage'), { recursive: true });
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const config = join(opts.dir, 'config.yaml');
  await writeFile(
    config,
    verdaccioConfig({ dir: opts.dir, listen, scope: opts.scope ?? '@sarai', uplink: opts.uplink }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [verdaccioBin(), '--config', config, '--listen', listen],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  let output = '';
  let exit: string | undefined;
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.on(
    'exit',
    (code, signal) => (exit = `verdaccio exited (${code ?? signal}): ${output.slice(-2_000)}`),
  );
  const url = `http://${listen}/`;
  try {
    await waitForHttp(`${url}-/ping`, { timeoutMs: opts.startTimeoutMs ?? 60_000, alive: () => exit });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    url,
    authKey: `//${listen}/`,
    log: () => output,
    async addUser(name, password) {
      const res = await fetch(`${url}-/user/org.couchdb.user:${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password, type: 'user', roles: [], date: new Date().toISOString() }),
      });
      const body = (await res.json()) as { token?: string; error?: string };
      if (!res.ok || !body.token)
        throw new RegistriesError(
          'REGISTRIES_HTTP',
          `cannot create npm user ${name}: HTTP ${res.status} ${body.error ?? ''}`,
        );
      return body.token;
    },
    async stop() {
      if (exit !== undefined) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    },
  };
}
