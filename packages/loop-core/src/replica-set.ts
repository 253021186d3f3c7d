import { RpcError, type SkillConnection } from '@sarai/proto';
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import { LoopError } from './errors.js';
import type { BreakerState, SkillAction, SkillEndpoint, SkillHealthState } from './skill-endpoint.js';

/**
 * True when a skill address names several replicas: a comma-separated list (`10.0.0.5:50051,10.0.0.6:50051`) or a
 * `dns:///host:port` name whose every A/AAAA record is a replica (a Kubernetes headless Service).
 */
export function isReplicatedAddress(address: string): boolean {
  return address.includes(',') || address.startsWith('dns:/');
}

const DNS = /^dns:(?:\/\/[^/]*\/)?(.+):(\d{1,5})$/;

/** Per-replica state, for logs, metrics and tests. */
export interface ReplicaState {
  address: string;
  health: SkillHealthState;
  breakerState: BreakerState;
  /** Calls started on this replica (retries included). */
  calls: number;
  inFlight: number;
}

export interface ReplicaSetOptions {
  /** How often a `dns:///` name is resolved again (replicas added/removed by scaling); default 30 s. */
  resolveIntervalMs?: number;
  logger?: Logger;
}

interface Replica {
  endpoint: SkillEndpoint;
  calls: number;
  inFlight: number;
}

/**
 * One skill served by several replicas, each with its own channel, circuit breaker and grpc.health.v1 Watch (a
 * {@link SkillEndpoint} made by `create`). Calls go round-robin over the replicas whose health is SERVING and whose
 * breaker is not open; replicas not confirmed yet (or whose Watch stream just broke: a replica that died) take load
 * only when no replica is SERVING. A call that fails with UNAVAILABLE (the replica went away, refused, or is draining)
 * is retried once on another replica within the same deadline; no other error is retried.
 */
export class SkillReplicaSet implements SkillEndpoint {
  private readonly replicas = new Map<string, Replica>();
  private next = 0;
  private closed = false;
  private readonly resolving: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    private readonly create: (replicaAddress: string) => SkillEndpoint,
    private readonly opts: ReplicaSetOptions = {},
  ) {
    const dns = DNS.exec(address);
    if (dns) {
      const [, host, port] = dns as unknown as [string, string, string];
      this.resolving = this.resolve(host, port);
      this.timer = setInterval(() => void this.resolve(host, port), opts.resolveIntervalMs ?? 30_000);
      this.timer.unref();
    } else {
      const list = address.split(',').map((a) => a.trim());
      if (list.some((a) => a === ''))
        throw new LoopError(
          'LOOP_BAD_OPTION',
          `skill "${name}": "${address}" has an empty replica; use host:port,host:port`,
        );
      for (const a of new Set(list)) this.replicas.set(a, { endpoint: create(a), calls: 0, inFlight: 0 });
    }
  }

  private async resolve(host: string, port: string): Promise<void> {
    let found: string[];
    try {
      const records = await lookup(host, { all: true });
      found = records.map((r) => (r.family === 6 ? `[${r.address}]:${port}` : `${r.address}:${port}`));
    } catch (e) {
      this.opts.logger?.warn(
        { skill: this.name, err: e },
        `cannot resolve ${this.address}; keeping the replicas known`,
      );
      return;
    }
    if (this.closed || found.length === 0) return;
    for (const a of found)
      if (!this.replicas.has(a)) this.replicas.set(a, { endpoint: this.create(a), calls: 0, inFlight: 0 });
    for (const [a, r] of this.replicas)
      if (!found.includes(a)) {
        r.endpoint.close();
        this.replicas.delete(a);
      }
  }

  /** Every replica with its health, breaker and call counts (the load spread). */
  get states(): ReplicaState[] {
    return [...this.replicas.values()].map((r) => ({
      address: r.endpoint.address,
      health: r.endpoint.health,
      breakerState: r.endpoint.breakerState,
      calls: r.calls,
      inFlight: r.inFlight,
    }));
  }

  /** SERVING when a replica serves, NOT_SERVING when all say so, UNKNOWN otherwise. */
  get health(): SkillHealthState {
    const hs = [...this.replicas.values()].map((r) => r.endpoint.health);
    if (hs.includes('SERVING')) return 'SERVING';
    return hs.length > 0 && hs.every((h) => h === 'NOT_SERVING') ? 'NOT_SERVING' : 'UNKNOWN';
  }

  /** closed while a replica's breaker is closed; open only when every replica's is. */
  get breakerState(): BreakerState {
    const bs = [...this.replicas.values()].map((r) => r.endpoint.breakerState);
    if (bs.length === 0 || bs.includes('closed')) return 'closed';
    return bs.includes('half-open') ? 'half-open' : 'open';
  }

  /** The channel of the replica the next call would use (for direct calls such as ListAdapters). */
  get conn(): SkillConnection {
    const r = this.candidates(false)[0] ?? [...this.replicas.values()][0];
    if (!r)
      throw new LoopError(
        'LOOP_SKILL_UNAVAILABLE',
        `skill "${this.name}": ${this.address} names no replica (yet)`,
      );
    return r.endpoint.conn;
  }

  /** Usable replicas in the order to try: SERVING ones round-robin, then unconfirmed ones (`advance`: next turn). */
  private candidates(advance = true): Replica[] {
    const usable = [...this.replicas.values()].filter(
      (r) => r.endpoint.breakerState !== 'open' && r.endpoint.health !== 'NOT_SERVING',
    );
    const serving = usable.filter((r) => r.endpoint.health === 'SERVING');
    const unknown = usable.filter((r) => r.endpoint.health !== 'SERVING');
    const rotate = (rs: Replica[]) => {
      if (rs.length === 0) return rs;
      const k = this.next % rs.length;
      return [...rs.slice(k), ...rs.slice(0, k)];
    };
    const order = serving.length > 0 ? [...rotate(serving), ...unknown] : rotate(unknown);
    if (advance) this.next += 1;
    return order;
  }

  async call<T>(action: SkillAction<T>, deadlineMs: number, signal?: AbortSignal): Promise<T> {
    if (this.resolving) await this.resolving;
    const order = this.candidates();
    const all = [...this.replicas.values()];
    if (order.length === 0) {
      if (all.length === 0)
        throw new LoopError(
          'LOOP_SKILL_UNAVAILABLE',
          `skill "${this.name}": ${this.address} resolves to no replica`,
        );
      if (all.every((r) => r.endpoint.health === 'NOT_SERVING'))
        throw new LoopError(
          'LOOP_SKILL_UNAVAILABLE',
          `skill "${this.name}": every replica at ${this.address} reports NOT_SERVING`,
        );
      // Every breaker is open: the first replica answers with its fail-fast error.
      order.push(all[0] as Replica);
    }
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      const r = order[attempt] as Replica;
      r.calls += 1;
      r.inFlight += 1;
      try {
        return await r.endpoint.call(action, Math.max(1, deadlineMs - (Date.now() - started)), signal);
      } catch (e) {
        const another = order[attempt + 1];
        if (
          attempt > 0 ||
          !another ||
          !replicaGone(e) ||
          signal?.aborted ||
          Date.now() - started >= deadlineMs
        )
          throw e;
        this.opts.logger?.warn(
          { skill: this.name, replica: r.endpoint.address, retry: another.endpoint.address },
          'replica unavailable: retrying on another replica',
        );
      } finally {
        r.inFlight -= 1;
      }
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const r of this.replicas.values()) r.endpoint.close();
    this.replicas.clear();
  }
}

/** The replica (not the request) is gone: connection refused/reset, draining, or failing fast. */
function replicaGone(e: unknown): boolean {
  if (e instanceof RpcError) return e.code === 'UNAVAILABLE';
  return e instanceof LoopError && e.code === 'LOOP_SKILL_UNAVAILABLE';
}
