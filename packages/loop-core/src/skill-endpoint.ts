import type { RpcOptions, SkillClient, SkillConnection } from '@sarai/proto';

// The types SkillPool and SkillReplicaSet share (kept apart so neither module imports the other's).

/** Last health a skill reported (grpc.health.v1 Watch). */
export type SkillHealthState = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';
/** State of a skill's circuit breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A call through a skill's channel: `skill` is the core `skills.Skill` client; skills with their own contract build
 * their client on `transport` (e.g. `new SandboxClient(transport)`).
 */
export type SkillAction<T> = (
  skill: SkillClient,
  opts: RpcOptions,
  transport: SkillConnection['transport'],
) => Promise<T>;

/** What SkillPool hands out for a skill: one replica (`SkillHandle`) or several (`SkillReplicaSet`). */
export interface SkillEndpoint {
  readonly name: string;
  readonly address: string;
  /** A channel to the skill (for a replica set: the replica the next call would use). */
  readonly conn: SkillConnection;
  readonly health: SkillHealthState;
  readonly breakerState: BreakerState;
  call<T>(action: SkillAction<T>, deadlineMs: number, signal?: AbortSignal): Promise<T>;
  close(): void;
}
