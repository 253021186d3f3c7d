import type { ServiceDefinition } from '@grpc/grpc-js';

const MALFORMED = Symbol('sarai.malformedRequest');

interface Malformed {
  readonly [MALFORMED]: string;
}

/**
 * A copy of `definition` whose request deserializers never throw: bytes that are not a valid message become a
 * marker object, so the runtime answers INVALID_ARGUMENT naming the method (grpc-js would send INTERNAL for a
 * deserializer exception — a client's garbage is not a server fault).
 */
export function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (e) {
          return { [MALFORMED]: e instanceof Error ? e.message : String(e) } satisfies Malformed;
        }
      },
    };
  }
  return out as ServiceDefinition;
}

/** Why a request could not be decoded, or undefined for a decoded message. */
export function malformedReason(request: unknown): string | undefined {
  return typeof request === 'object' && request !== null && MALFORMED in request
    ? (request as Malformed)[MALFORMED]
    : undefined;
}
