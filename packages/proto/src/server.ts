import {
  Server,
  ServerCredentials,
  status as grpcStatus,
  type ServerOptions,
  type StatusObject,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { HealthCheckResponse_ServingStatus } from './gen/skills.js';
import { healthDefinition, type IHealth } from './gen/skills.grpc-server.js';
import { grpcOptions, type MessageLimitOptions } from './options.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';

/** A grpc-js server whose message limits fit images (see {@link grpcOptions}). */
export function createGrpcServer(opts: MessageLimitOptions & { serverOptions?: ServerOptions } = {}): Server {
  return new Server({ ...grpcOptions(opts), ...opts.serverOptions });
}

/**
 * Binds insecurely (skills sit on loopback, a private network or a unix socket: `host` = `unix:/path`, port ignored)
 * and resolves with the bound port.
 */
export function bindServer(server: Server, host: string, port: number): Promise<number> {
  // `unix:/path` listens on a unix socket (skills run with `--network none` reach the host only through one).
  const target = host.startsWith('unix:')
    ? host
    : host.includes(':') && !host.startsWith('[')
      ? `[${host}]:${port}`
      : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(target, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}

/** A status a grpc-js handler can pass to its callback or `emit('error')`: code plus a message saying what to fix. */
export function rpcStatus(code: grpcStatus, details: string): Partial<StatusObject> & Error {
  return Object.assign(new Error(details), { code, details });
}

/** Shape of a skill error code on the wire: `PACKAGE_REASON` (e.g. `DRAFT_QUEUE_FULL`, `IMAGE_CORRUPT`). */
export const SKILL_ERROR_CODE = /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/;

/**
 * The one wire format of a skill error: status `code`, details `"<CODE>: <message>"`, the same for every skill, so
 * clients recover the stable code with {@link skillErrorOf} (client.ts).
 */
export function skillErrorStatus(
  code: grpcStatus,
  errorCode: string,
  message: string,
): Partial<StatusObject> & Error {
  return rpcStatus(code, `${errorCode}: ${message}`);
}

/**
 * Health state served on both `grpc.health.v1.Health` (Check/Watch, via grpc-health-check) and the seed's
 * `skills.Health` (Check), so standard probes and seed clients see the same status.
 * The empty service name `""` is the whole server, by convention.
 */
export class SkillHealth {
  private readonly standard: HealthImplementation;
  private readonly statuses = new Map<string, ServingStatus>();

  constructor(initial: Record<string, ServingStatus> = { '': 'NOT_SERVING' }) {
    for (const [k, v] of Object.entries(initial)) this.statuses.set(k, v);
    this.standard = new HealthImplementation({ ...initial });
  }

  /** Sets one service's status; Watch streams see the change. */
  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    this.standard.setStatus(service, status);
  }

  /** Sets every known service (and the server, `""`) at once. */
  setAll(status: ServingStatus): void {
    for (const s of new Set(['', ...this.statuses.keys()])) this.setStatus(s, status);
  }

  status(service = ''): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Registers grpc.health.v1.Health and skills.Health on the server. */
  addToServer(server: Server): void {
    this.standard.addToServer(server);
    const impl: IHealth = {
      check: (call, callback) => {
        const s = this.statuses.get(call.request.service);
        const status =
          s === undefined
            ? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN
            : HealthCheckResponse_ServingStatus[s];
        callback(null, { status });
      },
    };
    server.addService(healthDefinition, impl);
  }
}
