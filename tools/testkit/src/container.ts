import {
  GenericContainer,
  ImageName,
  Wait,
  getContainerRuntimeClient,
  type ContainerRuntimeClient,
  type StartedTestContainer,
  type WaitStrategy,
} from 'testcontainers';
import { TestkitError } from './errors.js';
import { resolveHardening, type Hardening, type HardeningOptions } from './hardening.js';

// No registry is reachable: the Ryuk reaper image cannot be pulled, and /.dockerenv on the CI VM would send
// testcontainers down its container-in-container path (which may pull alpine). Defaults only; an explicit
// setting (e.g. in a vitest config `test.env`) wins.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= '127.0.0.1';

/**
 * Fails loudly (never skips) unless a Docker engine answers. Returns the server version.
 * Container tests call it in `beforeAll`.
 */
export async function ensureDockerAvailable(): Promise<string> {
  try {
    const client = await getContainerRuntimeClient();
    return String(client.info.containerRuntime.serverVersion);
  } catch (cause) {
    throw new TestkitError(
      'TESTKIT_DOCKER_UNAVAILABLE',
      'Docker is not reachable, so container tests cannot run (they never skip). ' +
        'Start the engine with `bash tools/scripts/ensure-docker.sh` (as root). ' +
        `Cause: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** Throws TESTKIT_IMAGE_MISSING unless `image` exists locally (nothing can be pulled here). */
export async function requireLocalImage(image: string): Promise<void> {
  const client = await getContainerRuntimeClient();
  const exists = await client.image.exists(ImageName.fromString(image));
  if (!exists) {
    throw new TestkitError(
      'TESTKIT_IMAGE_MISSING',
      `image ${image} does not exist locally and no registry is reachable; build it first`,
    );
  }
}

/** dockerode's ContainerInspectInfo: what `docker inspect <container>` prints. */
export type ContainerInspect = Awaited<ReturnType<ContainerRuntimeClient['container']['inspect']>>;

/** `docker inspect` of a started container. */
export async function inspectContainer(container: StartedTestContainer): Promise<ContainerInspect> {
  const client = await getContainerRuntimeClient();
  return client.container.inspect(client.container.getById(container.getId()));
}

export interface HardenedContainerOptions extends HardeningOptions {
  /**
   * How to tell the container is ready. Default `Wait.forHealthCheck()` (every SARAi image has a HEALTHCHECK).
   * Never use testcontainers' default (it execs /bin/sh, which shell-less images do not have).
   */
  wait?: WaitStrategy;
  /** Startup timeout in ms; default 60 000. */
  startupTimeoutMs?: number;
  /**
   * With the default wait: the image's own HEALTHCHECK command is applied with this interval (ms; default 1 000),
   * so a test notices readiness within about a second. The images probe every 10 s: each probe is a `docker exec`
   * plus a Node start (measured: a 2 s interval cost skill-draft 15–25 % of its decode speed on 2 cores).
   * 0 = keep the image's interval.
   */
  healthCheckIntervalMs?: number;
}

/**
 * A GenericContainer with the SARAi hardening applied: read-only rootfs, tmpfs /tmp (size, mode 1777),
 * cap-drop ALL, no-new-privileges, memory (= memory+swap), CPU and pids limits, user 1000:1000 and optionally
 * network none. `hardening` holds the resolved settings for `assertHardening` / `assertHardenedInside`.
 */
export class HardenedContainer extends GenericContainer {
  readonly hardening: Hardening;
  readonly image: string;
  private readonly fastHealthCheckMs: number;

  constructor(image: string, options: HardenedContainerOptions = {}) {
    super(image);
    this.image = image;
    this.fastHealthCheckMs = options.wait ? 0 : (options.healthCheckIntervalMs ?? 1_000);
    const h = resolveHardening(options);
    this.hardening = h;
    this.withUser(h.user)
      .withTmpFs({ '/tmp': h.tmpfsOptions })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges:true')
      .withWaitStrategy(options.wait ?? Wait.forHealthCheck())
      .withStartupTimeout(options.startupTimeoutMs ?? 60_000);
    // testcontainers 11 has no builder for these; the host config is used as-is at create time.
    this.hostConfig.ReadonlyRootfs = true;
    this.hostConfig.Memory = h.memoryBytes;
    this.hostConfig.MemorySwap = h.memoryBytes;
    this.hostConfig.NanoCpus = h.nanoCpus;
    this.hostConfig.PidsLimit = h.pidsLimit;
    if (h.networkNone) this.withNetworkMode('none');
  }

  /** Starts the container after checking the image is local (a pull would fail with a less useful error). */
  override async start(): Promise<StartedTestContainer> {
    await requireLocalImage(this.image);
    if (this.fastHealthCheckMs > 0 && !this.healthCheck) {
      const client = await getContainerRuntimeClient();
      const hc = (await client.image.inspect(ImageName.fromString(this.image))).Config?.Healthcheck;
      if (hc?.Test?.[0] === 'CMD') {
        this.withHealthCheck({
          test: hc.Test as ['CMD', ...string[]],
          interval: this.fastHealthCheckMs,
          timeout: hc.Timeout ? hc.Timeout / 1e6 : 3_000,
          retries: hc.Retries ?? 3,
          ...(hc.StartPeriod ? { startPeriod: hc.StartPeriod / 1e6 } : {}),
        });
      }
    }
    return super.start();
  }
}

/** Shorthand for `new HardenedContainer(image, options)`. */
export function hardenedContainer(image: string, options: HardenedContainerOptions = {}): HardenedContainer {
  return new HardenedContainer(image, options);
}
