import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistriesError } from './errors.js';
import { run } from './exec.js';
import { freePort, waitForHttp } from './net.js';

export interface ImageRegistry {
  /** `host:port`, the prefix of image references (`127.0.0.1:5000/sarai/skill-image:0.1.0`). */
  readonly host: string;
  /** Repositories stored (`/v2/_catalog`). */
  catalog(): Promise<string[]>;
  /** Tags of one repository (`/v2/<repo>/tags/list`). */
  tags(repository: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** Debian's `docker-registry` (distribution 2.8): one static binary. */
export const DOCKER_REGISTRY_BIN = process.env['SARAI_DOCKER_REGISTRY'] ?? '/usr/bin/docker-registry';

/** A registry config without auth (the packaged one enables htpasswd): storage in `dir`, loopback only. */
export function registryConfig(dir: string, addr: string): string {
  return [
    'version: 0.1',
    'log: { level: warn, formatter: json }',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dir, 'data'))}`,
    '  delete: { enabled: true }',
    'http:',
    `  addr: ${addr}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    'health:',
    '  storagedriver: { enabled: true, interval: 10s, threshold: 3 }',
    '',
  ].join('\n');
}

/**
 * Starts a private image registry on a free loopback port. Docker pushes to `127.0.0.1:<port>` without any
 * insecure-registry setting (loopback is trusted).
 */
export async function startImageRegistry(opts: {
  dir: string;
  /** The registry binary (default {@link DOCKER_REGISTRY_BIN}). */
  bin?: string;
  startTimeoutMs?: number;
}): Promise<ImageRegistry> {
  const bin = opts.bin ?? DOCKER_REGISTRY_BIN;
  if (!existsSync(bin))
    throw new RegistriesError(
      'REGISTRIES_NOT_INSTALLED',
      `${bin} not found: apt-get install docker-registry (or set SARAI_DOCKER_REGISTRY)`,
    );
  await mkdir(join(opts.dir, 'data'), { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(opts.dir, 'config.yml');
  await writeFile(config, registryConfig(opts.dir, host));
  const child: ChildProcess = spawn(bin, ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exit: string | undefined;
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.on(
    'exit',
    (code, signal) => (exit = `docker-registry exited (${code ?? signal}): ${output.slice(-2_000)}`),
  );
  try {
    await waitForHttp(`http://${host}/v2/`, { timeoutMs: opts.startTimeoutMs ?? 30_000, alive: () => exit });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://${host}${path}`);
    if (!res.ok) throw new RegistriesError('REGISTRIES_HTTP', `GET ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    host,
    catalog: async () => (await get<{ repositories: string[] }>('/v2/_catalog')).repositories,
    tags: async (repository) =>
      (await get<{ tags: string[] | null }>(`/v2/${repository}/tags/list`)).tags ?? [],
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

/** `[prefix/]repository:tag`; the prefix is a registry host (and optional path), e.g. `registry.example.com:5000`. */
export function imageRef(prefix: string, repository: string, tag: string): string {
  const p = prefix.replace(/\/+$/, '');
  return `${p ? `${p}/` : ''}${repository}:${tag}`;
}

/**
 * Tags a local image as `<prefix>/<repository>:<tag>`, pushes it and returns the pushed reference and its
 * content digest (`sha256:...`), i.e. `<prefix>/<repository>@<digest>` pulls exactly this image back.
 */
export async function pushImage(
  localImage: string,
  prefix: string,
): Promise<{ ref: string; digest: string; byDigest: string }> {
  const [repository, tag] = splitRef(localImage);
  const ref = imageRef(prefix, repository, tag);
  await run('docker', ['tag', localImage, ref]);
  const { stdout } = await run('docker', ['push', ref], { timeoutMs: 600_000 });
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
  if (!digest)
    throw new RegistriesError('REGISTRIES_COMMAND_FAILED', `docker push ${ref} printed no digest: ${stdout}`);
  return { ref, digest, byDigest: `${ref.slice(0, ref.lastIndexOf(':'))}@${digest}` };
}

/** Splits `repo[:tag]` (a registry port is not a tag). */
export function splitRef(image: string): [string, string] {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
}
