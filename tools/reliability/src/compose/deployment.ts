import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@sarai/formats';
import { localComposeEnv, localComposeLayout } from '@sarai/skill-registry';
import { CrashCheckError } from '../crash/errors.js';
import { workspaceRoot } from '../workspace.js';

const run = promisify(execFile);

/** The services a soak starts (Prometheus and the nightly trainer are not under test). */
export const SOAK_SERVICES = ['skill-draft', 'skill-image', 'skill-sandbox', 'sarai'] as const;
export type SoakService = (typeof SOAK_SERVICES)[number];

/** A running compose project of apps/deploy/docker-compose.yml, torn down by `down()` (idempotent). */
export interface ComposeDeployment {
  readonly project: string;
  /** host:port of the published draft and image gRPC ports, the sandbox's unix socket, the host's HTTP base URL. */
  readonly draftAddress: string;
  readonly imageAddress: string;
  readonly sandboxAddress: string;
  readonly hostUrl: string;
  readonly apiKey: string;
  /** Full container id per service. */
  readonly containers: Record<SoakService, string>;
  /** `docker inspect` State of a container: running, health status, restart and OOM-kill counts. */
  state(service: SoakService): Promise<ContainerState>;
  down(): Promise<void>;
}

export interface ContainerState {
  running: boolean;
  health: string;
  restarts: number;
  oomKilled: boolean;
}

/** apps/deploy (the compose file's directory). */
export function composeDir(): string {
  return join(workspaceRoot(), 'apps', 'deploy');
}

const live = new Set<ComposeDeployment>();
let handlersInstalled = false;

/** SIGINT/SIGTERM tear down every deployment this process started, then exit 130/143. */
function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nsoak: ${sig}: tearing the compose deployment down...\n`);
      void Promise.allSettled([...live].map((d) => d.down())).then(() => process.exit(code));
    });
  }
}

async function dockerInspect(id: string): Promise<ContainerState> {
  const { stdout } = await run('docker', [
    'inspect',
    '--format',
    '{{.State.Running}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}} {{.State.OOMKilled}}',
    id,
  ]);
  const [running, health, restarts, oom] = stdout.trim().split(' ');
  return {
    running: running === 'true',
    health: health ?? 'unknown',
    restarts: Number(restarts),
    oomKilled: oom === 'true',
  };
}

/**
 * Brings up the real compose deployment (hardened images, tiny generated draft model, fresh state, API key, the
 * sandbox's socket directory, loopback ports) as project `sarai-soak-<pid>` and waits until every service is healthy.
 * On failure, on `down()` and on SIGINT/SIGTERM it runs `docker-compose down -v --remove-orphans`: no container,
 * network or volume is left behind.
 */
export async function upCompose(
  o: {
    startTimeoutMs?: number;
    /** Extra variables for the compose file's ${…} substitutions. */
    env?: Record<string, string>;
    /** Extra container environment per service (a compose override file next to the state, not an edit). */
    serviceEnv?: Partial<Record<SoakService, Record<string, string>>>;
  } = {},
): Promise<ComposeDeployment> {
  const { ensureModel } = await import('@sarai/skill-draft');
  const dir = await mkdtemp(join(tmpdir(), 'sarai-soak-compose-'));
  const project = `sarai-soak-${process.pid}`;
  const file = join(composeDir(), 'docker-compose.yml');
  const apiKey = `soak-${process.pid}-${Date.now().toString(36)}`;
  const model = (await ensureModel(join(dir, 'models'), { preset: 'tiny', type: 'Q8_0', seed: 1 })).path;
  const layout = localComposeLayout(dir);
  // the host's state, the image cache and the sandbox socket directory belong to UID 1000 (the containers' user)
  for (const d of layout.ownedDirs) {
    await mkdir(d, { recursive: true });
    await chown(d, 1000, 1000);
  }
  await writeFile(layout.apiKeyFile, `${apiKey}\n`, { mode: 0o644 });
  const [draftPort, imagePort, hostPort, promPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const env = {
    ...process.env,
    ...localComposeEnv({
      root: dir,
      modelPath: model,
      ports: { skills: { draft: draftPort, image: imagePort }, host: hostPort, prometheus: promPort },
    }),
    ...o.env,
  };
  const files = ['-f', file];
  if (o.serviceEnv) {
    // JSON is YAML: an override file that only adds environment variables to some services
    const services = Object.fromEntries(
      Object.entries(o.serviceEnv).map(([svc, vars]) => [svc, { environment: vars }]),
    );
    await writeFile(join(dir, 'override.yml'), JSON.stringify({ version: '2.4', services }));
    files.push('-f', join(dir, 'override.yml'));
  }
  const compose = (...args: string[]) =>
    run('docker-compose', ['-p', project, ...files, ...args], { env, maxBuffer: 16 * 1024 * 1024 });
  let downed: Promise<void> | undefined;
  const down = () =>
    (downed ??= (async () => {
      live.delete(deployment);
      await compose('down', '-v', '--remove-orphans', '--timeout', '10').catch((e: Error) =>
        process.stderr.write(`soak: docker-compose down failed: ${e.message}\n`),
      );
      await rm(dir, { recursive: true, force: true });
    })());
  const containers = {} as Record<SoakService, string>;
  const deployment: ComposeDeployment = {
    project,
    draftAddress: `127.0.0.1:${draftPort}`,
    imageAddress: `127.0.0.1:${imagePort}`,
    sandboxAddress: `unix:${join(layout.sandboxSocketDir, 'sandbox.sock')}`,
    hostUrl: `http://127.0.0.1:${hostPort}`,
    apiKey,
    containers,
    state: (service) => dockerInspect(containers[service]),
    down,
  };
  live.add(deployment);
  installSignalHandlers();
  try {
    await compose('up', '-d', ...SOAK_SERVICES);
    for (const s of SOAK_SERVICES) {
      const id = (await compose('ps', '-q', s)).stdout.trim();
      if (!id)
        throw new CrashCheckError(s, 'no container after docker-compose up', 'RELIABILITY_CHILD_FAILED');
      containers[s] = id;
    }
    const deadline = Date.now() + (o.startTimeoutMs ?? 180_000);
    for (;;) {
      const states = await Promise.all(SOAK_SERVICES.map((s) => deployment.state(s)));
      if (states.every((st) => st.running && st.health === 'healthy')) break;
      if (Date.now() > deadline) {
        const logs = (await compose('logs', '--tail', '20').catch(() => ({ stdout: '' }))).stdout;
        throw new CrashCheckError(
          'compose',
          `not healthy within the start timeout: ${SOAK_SERVICES.map((s, i) => `${s} ${JSON.stringify(states[i])}`).join(', ')}\n${logs}`,
          'RELIABILITY_CHILD_FAILED',
        );
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    return deployment;
  } catch (e) {
    await down();
    throw e;
  }
}
