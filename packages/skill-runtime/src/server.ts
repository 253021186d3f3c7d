import {
  status,
  type Server,
  type UntypedServiceImplementation,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  SkillHealth,
  bindServer,
  createGrpcServer,
  rpcStatus,
  skillDefinition,
  type ISkill,
  type MessageLimitOptions,
} from '@sarai/proto';
import { Admission, type AdmissionLimits, type Release } from './admission.js';
import { toGrpcStatus, type ErrorStatusTable } from './error-model.js';
import { skillService, type SkillService } from './services.js';
import { malformedReason, tolerantDefinition } from './malformed.js';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { SkillRuntimeError } from './errors.js';
import { createSkillMetrics, serveMetrics, type SkillMetrics } from './metrics.js';

/** The health service name of the seed skill API, next to the whole-server name `""`. */
export const SKILL_SERVICE = 'skills.Skill';

export interface SkillServerOptions extends MessageLimitOptions {
  /** Skill name: metrics label and log name (e.g. "draft", "image"). */
  name: string;
  host?: string;
  /** gRPC port; 0 = ephemeral. */
  port: number;
  /** The services this skill serves (its own contracts and/or the seed `skills.Skill`). */
  services?: SkillService[];
  /** Shorthand for `services: [skillService(skillDefinition, implementation)]` (seed skills.Skill methods). */
  implementation?: Partial<ISkill>;
  /** Stable error code → gRPC status (see {@link ErrorStatusTable}); failures are sent as `"<CODE>: <message>"`. */
  errors?: ErrorStatusTable;
  /** Admission applied to every call of every service (none by default). */
  limits?: AdmissionLimits;
  /** Health state to serve (default: a new one with `""` and every service NOT_SERVING). */
  health?: SkillHealth;
  logger: Logger;
  /** Prometheus port; 0 = ephemeral, undefined or -1 = no HTTP endpoint. */
  metricsPort?: number;
  metricsHost?: string;
  registry?: Registry;
  /** How long `shutdown()` waits for in-flight calls before closing them (ms). */
  shutdownGraceMs?: number;
  /** Start as SERVING (default false: the skill calls `setServing(true)` once it is ready, e.g. model loaded). */
  serving?: boolean;
}

export interface RunningSkill {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly health: SkillHealth;
  readonly registry: Registry;
  readonly metrics: SkillMetrics;
  readonly server: Server;
  /** Calls currently being served (all methods). */
  inFlight(): number;
  setServing(serving: boolean): void;
  /** Hooks run after draining, in registration order (e.g. dispose a model). */
  onShutdown(fn: () => Promise<void> | void): void;
  /** NOT_SERVING, refuse new calls (UNAVAILABLE), drain in-flight ones up to the grace period, then close. */
  shutdown(reason?: string): Promise<void>;
}

type AnyHandler = (call: unknown, callback?: sendUnaryData<unknown>) => unknown;

/** Starts a skill's gRPC server with both health protocols, metrics and graceful shutdown. */
export async function startSkillServer(opts: SkillServerOptions): Promise<RunningSkill> {
  const { logger } = opts;
  const metrics = createSkillMetrics(opts.name, opts.registry);
  const services = [
    ...(opts.services ?? []),
    ...(opts.implementation ? [skillService(skillDefinition, opts.implementation)] : []),
  ];
  if (services.length === 0) services.push(skillService(skillDefinition, {}));
  const health =
    opts.health ??
    new SkillHealth(Object.fromEntries(['', ...services.map((s) => s.name)].map((n) => [n, 'NOT_SERVING'])));
  for (const s of services) if (health.status(s.name) === undefined) health.setStatus(s.name, 'NOT_SERVING');
  const server = createGrpcServer(opts);
  const errors = opts.errors ?? {};
  const admission = opts.limits ? new Admission(opts.limits) : undefined;
  let active = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const hooks: Array<() => Promise<void> | void> = [];

  const finish = (method: string, code: status, stop: () => number) => {
    stop();
    metrics.inFlight.dec({ method });
    metrics.requests.inc({ method, code: status[code] ?? String(code) });
    active -= 1;
    if (active === 0) idle?.();
  };
  /** A failure as sent on the wire; unexpected ones are logged with their stack. */
  const wire = (e: unknown, method: string) => {
    const { status: st, unexpected } = toGrpcStatus(e, errors, method);
    if (unexpected) logger.error({ err: e, method }, `${method} failed`);
    return st;
  };
  const shuttingDownText = `${opts.name} skill is shutting down; retry on another instance`;

  for (const svc of services) {
    const wrapped: Record<string, AnyHandler> = {};
    for (const [key, def] of Object.entries(svc.definition)) {
      const method = def.path.split('/').pop() ?? key;
      const impl = (svc.implementation as Record<string, AnyHandler | undefined>)[key];
      const unimplemented = `the ${opts.name} skill does not implement ${method} (service ${svc.name})`;
      const malformedText = (why: string) =>
        `the ${method} request is not a valid ${svc.name} ${method} message (${why}): encode it with the service's .proto`;
      if (!def.responseStream) {
        wrapped[key] = (call, callback) => {
          const cb = callback as sendUnaryData<unknown>;
          if (draining) return cb(rpcStatus(status.UNAVAILABLE, shuttingDownText));
          if (!impl) return cb(rpcStatus(status.UNIMPLEMENTED, unimplemented));
          const badUnary = malformedReason((call as ServerUnaryCall<unknown, unknown>).request);
          if (badUnary !== undefined) return cb(rpcStatus(status.INVALID_ARGUMENT, malformedText(badUnary)));
          const run = (release?: Release) => {
            active += 1;
            metrics.inFlight.inc({ method });
            const stop = metrics.latency.startTimer({ method });
            let done = false;
            const guarded: sendUnaryData<unknown> = (err, value) => {
              if (done) return;
              done = true;
              release?.();
              const st = err ? wire(err, method) : null;
              cb(st, value);
              finish(method, st ? ((st.code as status | undefined) ?? status.UNKNOWN) : status.OK, stop);
            };
            try {
              const r = impl(call as ServerUnaryCall<unknown, unknown>, guarded);
              if (r && typeof (r as Promise<unknown>).then === 'function')
                (r as Promise<unknown>).then(undefined, (e: unknown) => guarded(e as Error, null));
            } catch (e) {
              guarded(e as Error, null);
            }
          };
          if (!admission) return run();
          const ticket = admission.tryAcquire();
          if (!ticket) {
            metrics.requests.inc({ method, code: 'RESOURCE_EXHAUSTED' });
            cb(wire(admission.busyError(), method));
            return;
          }
          const c = call as ServerUnaryCall<unknown, unknown>;
          const onCancel = () => ticket.cancel();
          c.once('cancelled', onCancel);
          void ticket.ready.then((release) => {
            c.removeListener('cancelled', onCancel);
            if (c.cancelled) release();
            else run(release);
          });
        };
      } else {
        wrapped[key] = (call) => {
          const stream = call as ServerWritableStream<unknown, unknown>;
          if (draining) {
            stream.emit('error', rpcStatus(status.UNAVAILABLE, shuttingDownText));
            return;
          }
          if (!impl) {
            stream.emit('error', rpcStatus(status.UNIMPLEMENTED, unimplemented));
            return;
          }
          const badStream = malformedReason(stream.request);
          if (badStream !== undefined) {
            stream.emit('error', rpcStatus(status.INVALID_ARGUMENT, malformedText(badStream)));
            return;
          }
          const run = (release?: Release) => {
            active += 1;
            metrics.inFlight.inc({ method });
            const stop = metrics.latency.startTimer({ method });
            let done = false;
            const end = (code: status) => {
              if (done) return;
              done = true;
              release?.();
              finish(method, code, stop);
            };
            const origEmit = stream.emit.bind(stream);
            stream.emit = ((event: string, ...args: unknown[]) => {
              if (event === 'error') {
                const st = wire(args[0], method);
                end((st.code as status | undefined) ?? status.UNKNOWN);
                return origEmit(event, st);
              }
              return origEmit(event, ...args);
            }) as typeof stream.emit;
            stream.on('finish', () => end(status.OK));
            stream.on('cancelled', () => end(status.CANCELLED));
            stream.on('close', () => end(stream.cancelled ? status.CANCELLED : status.OK));
            try {
              const r = impl(stream);
              if (r && typeof (r as Promise<unknown>).then === 'function')
                (r as Promise<unknown>).then(undefined, (e: unknown) => stream.emit('error', e));
            } catch (e) {
              stream.emit('error', e);
            }
          };
          if (!admission) return run();
          const ticket = admission.tryAcquire();
          if (!ticket) {
            metrics.requests.inc({ method, code: 'RESOURCE_EXHAUSTED' });
            stream.emit('error', wire(admission.busyError(), method));
            return;
          }
          const onCancel = () => ticket.cancel();
          stream.once('cancelled', onCancel);
          void ticket.ready.then((release) => {
            stream.removeListener('cancelled', onCancel);
            if (stream.cancelled) release();
            else run(release);
          });
        };
      }
    }
    server.addService(tolerantDefinition(svc.definition), wrapped as UntypedServiceImplementation);
  }
  health.addToServer(server);

  const host = opts.host ?? '0.0.0.0';
  let port: number;
  try {
    port = await bindServer(server, host, opts.port);
  } catch (e) {
    throw new SkillRuntimeError(
      'RUNTIME_START_FAILED',
      `cannot listen on ${host}:${opts.port}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let http: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (opts.metricsPort !== undefined && opts.metricsPort >= 0) {
    try {
      const m = await serveMetrics(
        metrics.registry,
        opts.metricsHost ?? (host.startsWith('unix:') ? '127.0.0.1' : host),
        opts.metricsPort,
      );
      http = m.server;
      metricsPort = m.port;
    } catch (e) {
      server.forceShutdown();
      throw new SkillRuntimeError(
        'RUNTIME_START_FAILED',
        `cannot serve metrics on ${host}:${opts.metricsPort}: ${(e as Error).message} (set METRICS_PORT=-1 to disable)`,
        { cause: e },
      );
    }
  }
  if (opts.serving) health.setAll('SERVING');
  logger.info(
    { port, metricsPort, ...(host.startsWith('unix:') ? { socket: host } : {}) },
    `${opts.name} skill listening`,
  );

  let shuttingDown: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    health,
    metrics,
    registry: metrics.registry,
    server,
    inFlight: () => active,
    setServing(serving) {
      if (!draining) health.setAll(serving ? 'SERVING' : 'NOT_SERVING');
    },
    onShutdown(fn) {
      hooks.push(fn);
    },
    shutdown(reason = 'shutdown requested') {
      shuttingDown ??= (async () => {
        draining = true;
        health.setAll('NOT_SERVING');
        logger.info({ inFlight: active, reason }, 'draining');
        const grace = opts.shutdownGraceMs ?? 30_000;
        if (active > 0) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              logger.warn({ inFlight: active }, 'grace period over, closing remaining calls');
              resolve();
            }, grace);
            idle = () => {
              clearTimeout(t);
              resolve();
            };
          });
        }
        // Let answered calls flush, then close; long-lived streams (health Watch) are cut after a short wait.
        await new Promise<void>((resolve) => {
          const t = setTimeout(
            () => {
              server.forceShutdown();
              resolve();
            },
            Math.min(2_000, Math.max(grace, 100)),
          );
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
        await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
        for (const fn of hooks) {
          try {
            await fn();
          } catch (e) {
            logger.error({ err: e }, 'shutdown hook failed');
          }
        }
        logger.info('stopped');
      })();
      return shuttingDown;
    },
  };
}
