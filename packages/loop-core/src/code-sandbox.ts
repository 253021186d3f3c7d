import type { RpcOptions } from '@sarai/proto';
import { SandboxServiceClient, type RunTestsRequest, type RunTestsResponse } from '@sarai/sandbox-contract';
import type { SkillPool } from './skill-pool.js';

/** The role of the skill that runs code tests (registry `roles`). */
export const CODE_TESTS_ROLE = 'code-tests';

/**
 * Runs unit tests of model-written code somewhere isolated: the sandbox skill (sarai.sandbox.v1). loop-core never
 * runs such code itself.
 */
export interface CodeSandbox {
  /** Rejects when the sandbox cannot answer (down, slow, breaker open): the check is then `unavailable`. */
  runTests(request: RunTestsRequest, deadlineMs: number): Promise<RunTestsResponse>;
}

/**
 * The sandbox skill reached through `pool` (the skill registered with the `code-tests` role, its address, deadline
 * and circuit breaker from the registry).
 */
export function poolSandbox(pool: SkillPool, role = CODE_TESTS_ROLE): CodeSandbox {
  return {
    runTests: (request, deadlineMs) =>
      pool
        .forRole(role)
        .call(
          async (_skill, opts: RpcOptions, transport) =>
            (await new SandboxServiceClient(transport).runTests(request, opts)).response,
          deadlineMs,
        ),
  };
}
