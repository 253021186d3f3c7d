import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';

/**
 * One gRPC service a skill serves: a grpc-js definition (protobuf-ts `server_grpc1` output, e.g. `skillDefinition`
 * for the seed `skills.Skill` or a skill's own `sarai.<skill>.v1` service) and the methods it implements. Methods
 * left out answer UNIMPLEMENTED. The service gets a health entry under `name` and per-method metrics.
 */
export interface SkillService {
  /** Full protobuf service name (`skills.Skill`, `sarai.sandbox.v1.Sandbox`): the health entry. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: Partial<UntypedServiceImplementation>;
}

/** The full service name of a definition, from its first method's path (`/pkg.Service/Method`). */
export function serviceNameOf(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0] as { path?: string } | undefined;
  return first?.path?.split('/')[1] ?? '';
}

/**
 * Pairs a grpc-js service definition with (part of) its implementation. The implementation is typed by the
 * definition's interface (e.g. `ISkill`), so handlers get typed calls.
 */
export function skillService<I extends UntypedServiceImplementation>(
  definition: ServiceDefinition<I>,
  implementation: Partial<I>,
  opts: { name?: string } = {},
): SkillService {
  return {
    name: opts.name ?? serviceNameOf(definition as ServiceDefinition),
    definition: definition as ServiceDefinition,
    implementation: implementation as Partial<UntypedServiceImplementation>,
  };
}
