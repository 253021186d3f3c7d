import { status, type StatusObject } from '@grpc/grpc-js';
import { SKILL_ERROR_CODE, rpcStatus, skillErrorStatus } from '@sarai/proto';
import type { SkillRuntimeErrorCode } from './errors.js';

/** A gRPC status by name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, ...). */
export type GrpcStatusName = Exclude<keyof typeof status, number>;

/**
 * A skill's error table: each stable code of its error class → the gRPC status clients see. The one place a skill
 * decides how its failures look on the wire; codes missing from it are sent as INTERNAL.
 */
export type ErrorStatusTable<Code extends string = string> = Readonly<Record<Code, GrpcStatusName>>;

/** How the runtime's own codes travel. */
export const RUNTIME_ERROR_STATUS: ErrorStatusTable<SkillRuntimeErrorCode> = {
  RUNTIME_BAD_CONFIG: 'FAILED_PRECONDITION',
  RUNTIME_START_FAILED: 'UNAVAILABLE',
  RUNTIME_BUSY: 'RESOURCE_EXHAUSTED',
  RUNTIME_CANCELLED: 'CANCELLED',
};

/** The stable code of an error (a string `code` shaped like `PACKAGE_REASON`), if it has one. */
export function errorCodeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && SKILL_ERROR_CODE.test(code) ? code : undefined;
}

/** True for a status grpc-js sends as is (a numeric `code`, e.g. made by `rpcStatus`). */
export function isGrpcStatus(e: unknown): e is Partial<StatusObject> & Error {
  return typeof (e as { code?: unknown } | null | undefined)?.code === 'number';
}

/**
 * What a handler's failure becomes on the wire: a gRPC status passes through; an error with a stable code is mapped
 * by `table` (then the runtime's table; else INTERNAL) and sent as `"<CODE>: <message>"`; anything else is INTERNAL
 * (`unexpected` is true so the caller logs it with its stack).
 */
export function toGrpcStatus(
  e: unknown,
  table: ErrorStatusTable,
  method: string,
): { status: Partial<StatusObject> & Error; unexpected: boolean } {
  if (isGrpcStatus(e)) {
    if (typeof e.details === 'string') e.details = wellFormed(e.details);
    return { status: e, unexpected: false };
  }
  const code = errorCodeOf(e);
  const message = wellFormed(e instanceof Error ? e.message : String(e));
  if (code) {
    const name = table[code] ?? (RUNTIME_ERROR_STATUS as ErrorStatusTable)[code];
    return {
      status: skillErrorStatus(name ? status[name] : status.INTERNAL, code, message),
      unexpected: name === undefined,
    };
  }
  return { status: rpcStatus(status.INTERNAL, `internal error in ${method}: ${message}`), unexpected: true };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A message that echoes client input may hold lone UTF-16 surrogates; grpc-js percent-encodes status details with
 * encodeURI, which throws on them and takes the whole process down. They become U+FFFD.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * Types any failure for a grpc-js callback or `emit('error')`: the runtime's handler wrapper maps it on the way out
 * (a coded error through the skill's table, others to INTERNAL), so handlers pass their own errors as they are.
 */
export function skillFailure(e: unknown): Partial<StatusObject> & Error {
  return e as Partial<StatusObject> & Error;
}
