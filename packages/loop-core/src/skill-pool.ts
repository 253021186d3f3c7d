import { RpcError, connectSkill, grpcHealthV1, type SkillConnection } from '@sarai/proto';
import {
  addressEnv,
  defaultAddress,
  loadRegistry,
  type SkillEntry,
  type SkillRegistry,
} from '@sarai/skill-registry';
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { LoopError } from './errors.js';
import { SkillReplicaSet, isReplicatedAddress } from './replica-set.js';
import type { BreakerState, SkillAction, SkillEndpoint, SkillHealthState } from './skill-endpoint.js';

export type { BreakerState, SkillAction, SkillEndpoint, SkillHealthState } from './skill-endpoint.js';

export interface BreakerOptions {
  /** Time an open breaker waits before letting one probe call through (half-open). */
  resetTimeoutMs?: number;
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage?: number;
  /** Calls needed in the window before the percentage counts. */
  volumeThreshold?: number;
  rollingCountTimeoutMs?: number;
}

export interface SkillPoolOptions {
  /**
   * name → gRPC address; missing names come from `SARAI_SKILL_<NAME>_ADDR`, then the registry entry's `address`
   * (default: the compose service `skill-<name>:<port>`). Several replicas: `host:port,host:port` or
   * `dns:///name:port` (every A/AAAA record, e.g. a Kubernetes headless Service) — see {@link SkillReplicaSet}.
   */
  addresses?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /**
   * The skills (deadline, breaker, health service, roles, default address). Default: `loadRegistry({ env })`, i.e.
   * the built-in entries plus the user file in `SARAI_SKILLS_FILE`.
   */
  registry?: SkillRegistry;
  /** Overrides the registry's breaker settings for every skill. */
  breaker?: BreakerOptions;
  /** Watch grpc.health.v1 of every skill and fail fast while it says NOT_SERVING (default true). */
  watchHealth?: boolean;
  maxMessageBytes?: number;
  logger?: Logger;
}

/** gRPC codes that mean "the caller sent something wrong": they do not count against the skill's breaker. */
const CALLER_ERRORS = new Set([
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'ALREADY_EXISTS',
]);

/** True when an error says the skill (not the request) failed: worth a fallback. */
export function isSkillFailure(e: unknown): boolean {
  if (e instanceof LoopError) return e.code === 'LOOP_SKILL_UNAVAILABLE';
  if (e instanceof RpcError) return !CALLER_ERRORS.has(e.code);
  return true;
}

type Action = SkillAction<unknown>;

/** One skill: a channel, a circuit breaker and the last health the skill reported. */
export class SkillHandle implements SkillEndpoint {
  readonly conn: SkillConnection;
  private readonly breaker: CircuitBreaker<[Action, number, AbortSignal | undefined], unknown>;
  private healthState: SkillHealthState = 'UNKNOWN';
  private readonly abort = new AbortController();
  private closed = false;
  private readonly resetTimeoutMs: number;
  private readonly healthService: string;

  constructor(
    readonly name: string,
    readonly address: string,
    opts: {
      breaker?: BreakerOptions;
      watchHealth?: boolean;
      maxMessageBytes?: number;
      logger?: Logger;
      /** grpc.health.v1 service name to watch ("" = the whole server). */
      healthService?: string;
    },
  ) {
    this.conn = connectSkill(address, opts.maxMessageBytes ? { maxMessageBytes: opts.maxMessageBytes } : {});
    this.healthService = opts.healthService ?? '';
    const b = opts.breaker ?? {};
    this.resetTimeoutMs = b.resetTimeoutMs ?? 5_000;
    this.breaker = new CircuitBreaker(
      (action: Action, deadlineMs: number, signal: AbortSignal | undefined) =>
        action(
          this.conn.skill,
          { timeout: deadlineMs, ...(signal ? { abort: signal } : {}) },
          this.conn.transport,
        ).catch((e: unknown) => {
          // A caller's abort is not the skill's failure: LOOP_CANCELLED is filtered out of the breaker's counts.
          if (signal?.aborted) throw cancelled(this.name, e);
          throw e;
        }),
      {
        // Deadlines are gRPC's (they also stop the work on the server); the breaker only counts outcomes.
        timeout: false,
        resetTimeout: this.resetTimeoutMs,
        errorThresholdPercentage: b.errorThresholdPercentage ?? 50,
        volumeThreshold: b.volumeThreshold ?? 2,
        rollingCountTimeout: b.rollingCountTimeoutMs ?? 10_000,
        errorFilter: (e: unknown) => !isSkillFailure(e),
        name: `skill-${name}`,
      },
    );
    const log = opts.logger;
    this.breaker.on('open', () => log?.warn({ skill: name, address }, 'circuit breaker open: failing fast'));
    this.breaker.on('halfOpen', () => log?.info({ skill: name }, 'circuit breaker half-open: probing'));
    this.breaker.on('close', () => log?.info({ skill: name }, 'circuit breaker closed: skill back'));
    if (opts.watchHealth !== false) void this.watchHealth();
  }

  get health(): SkillHealthState {
    return this.healthState;
  }

  get breakerState(): BreakerState {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half-open' : 'closed';
  }

  /**
   * Calls the skill with a deadline through the circuit breaker. Fails fast (LOOP_SKILL_UNAVAILABLE) while the
   * breaker is open or the skill reports NOT_SERVING; caller errors (INVALID_ARGUMENT, ...) pass through as RpcError.
   * Aborting `signal` cancels the gRPC call (the skill stops its work) and rejects with LOOP_CANCELLED.
   */
  async call<T>(action: SkillAction<T>, deadlineMs: number, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw cancelled(this.name);
    if (this.healthState === 'NOT_SERVING') {
      throw new LoopError(
        'LOOP_SKILL_UNAVAILABLE',
        `skill "${this.name}" at ${this.address} reports NOT_SERVING`,
      );
    }
    try {
      return (await this.breaker.fire(action as Action, deadlineMs, signal)) as T;
    } catch (e) {
      if ((e as { code?: string }).code === 'EOPENBREAKER') {
        throw new LoopError(
          'LOOP_SKILL_UNAVAILABLE',
          `skill "${this.name}" at ${this.address} is failing: circuit breaker open, next probe in ≤ ${this.resetTimeoutMs} ms`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** Follows grpc.health.v1 Watch; reconnects with backoff. SERVING closes an open breaker at once. */
  private async watchHealth(): Promise<void> {
    let backoff = 250;
    while (!this.closed) {
      try {
        const call = this.conn.grpcHealth.watch(
          { service: this.healthService },
          { abort: this.abort.signal },
        );
        for await (const m of call.responses) {
          backoff = 250;
          const s =
            m.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING ? 'SERVING' : 'NOT_SERVING';
          this.healthState = s;
          if (s === 'SERVING' && !this.breaker.closed) this.breaker.close();
        }
      } catch {
        // stream ended: the skill is down or restarting
      }
      if (this.closed) return;
      this.healthState = 'UNKNOWN';
      await new Promise((r) => setTimeout(r, backoff).unref());
      backoff = Math.min(backoff * 2, 5_000);
    }
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    this.breaker.shutdown();
    this.conn.close();
  }
}

function cancelled(skill: string, cause?: unknown): LoopError {
  return new LoopError('LOOP_CANCELLED', `the call to skill "${skill}" was cancelled by the caller`, {
    cause,
  });
}

/**
 * The seed's `get_model_pool().get_skill_client(name)`: one channel and breaker per skill name. Which skills exist,
 * where they listen, their deadlines and breaker settings come from the skill registry (@sarai/skill-registry).
 */
export class SkillPool {
  private readonly handles = new Map<string, SkillEndpoint>();
  private registryCache: SkillRegistry | undefined;

  constructor(private readonly opts: SkillPoolOptions = {}) {
    this.registryCache = opts.registry;
  }

  /** The registry this pool resolves skills in (loaded on first use unless given). */
  get registry(): SkillRegistry {
    this.registryCache ??= loadRegistry({ env: this.opts.env ?? process.env });
    return this.registryCache;
  }

  /** The registry entry of `name`, or undefined for a skill known only by address. */
  entry(name: string): SkillEntry | undefined {
    return this.registry.find(name);
  }

  /** Name of the skill that plays `role` in the loop (e.g. `draft`, `image`); LOOP_UNKNOWN_SKILL when none does. */
  nameFor(role: string): string {
    const e = this.registry.byRole(role);
    if (!e) {
      throw new LoopError(
        'LOOP_UNKNOWN_SKILL',
        `no registered skill has the role "${role}": add "roles": ["${role}"] to a skill's registry entry (packages/skill-registry/skills/ or SARAI_SKILLS_FILE)`,
      );
    }
    return e.name;
  }

  /** The skill playing `role`. */
  forRole(role: string): SkillEndpoint {
    return this.get(this.nameFor(role));
  }

  /** Default deadline of one call to `name`, ms (registry `deadlineMs`; 5 s for unregistered skills). */
  deadlineOf(name: string): number {
    return this.entry(name)?.deadlineMs ?? 5_000;
  }

  /** Address a skill name resolves to (explicit option, then `SARAI_SKILL_<NAME>_ADDR`, then the registry). */
  addressOf(name: string): string {
    const env = this.opts.env ?? process.env;
    const entry = this.entry(name);
    const addr =
      this.opts.addresses?.[name] ?? env[addressEnv(name)] ?? (entry ? defaultAddress(entry) : undefined);
    if (!addr) {
      throw new LoopError(
        'LOOP_UNKNOWN_SKILL',
        `no address for skill "${name}": set ${addressEnv(name)}=host:port or register it (SARAI_SKILLS_FILE)`,
      );
    }
    return addr;
  }

  get(name: string): SkillEndpoint {
    let h = this.handles.get(name);
    if (!h) {
      const entry = this.entry(name);
      const address = this.addressOf(name);
      const handleOpts = {
        ...this.opts,
        breaker: { ...entry?.breaker, ...this.opts.breaker },
        ...(entry ? { healthService: entry.healthService } : {}),
      };
      // Several replicas: a channel, breaker and health Watch each, calls spread round-robin.
      h = isReplicatedAddress(address)
        ? new SkillReplicaSet(name, address, (a) => new SkillHandle(name, a, handleOpts), {
            ...(this.opts.logger ? { logger: this.opts.logger } : {}),
          })
        : new SkillHandle(name, address, handleOpts);
      this.handles.set(name, h);
    }
    return h;
  }

  close(): void {
    for (const h of this.handles.values()) h.close();
    this.handles.clear();
  }
}
