import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import {
  RpcError,
  RpcOutputStreamController,
  ServerStreamingCall,
  UnaryCall,
  type MethodInfo,
  type RpcInterceptor,
} from '@protobuf-ts/runtime-rpc';
import { ProtoError } from './errors.js';
import { HealthClient as GrpcHealthClient } from './gen/grpc/health/v1/health.client.js';
import { HealthClient, SkillClient } from './gen/skills.client.js';
import {
  grpcOptions,
  messageTooLargeText,
  resolveMaxMessageBytes,
  type MessageLimitOptions,
} from './options.js';

export interface ConnectOptions extends MessageLimitOptions {
  /** Channel credentials; insecure by default (skills listen on loopback or a private network). */
  credentials?: ChannelCredentials;
  /** Default per-call timeout in ms for every RPC made through these clients (overridable per call). */
  timeoutMs?: number;
}

/** Typed clients of one skill endpoint sharing one channel. */
export interface SkillConnection {
  readonly address: string;
  readonly maxMessageBytes: number;
  readonly skill: SkillClient;
  /** The seed's `skills.Health`. */
  readonly health: HealthClient;
  /** The standard `grpc.health.v1.Health` (Check and Watch). */
  readonly grpcHealth: GrpcHealthClient;
  readonly transport: GrpcTransport;
  close(): void;
}

const ADDRESS = /^(?:unix:.+|dns:.+|\[[0-9a-fA-F:]+\]:\d{1,5}|[A-Za-z0-9_.-]+:\d{1,5})$/;

/** Validates a gRPC target: `host:port`, `[v6]:port`, `unix:/path` or `dns:...`. */
export function assertAddress(address: string): string {
  if (!ADDRESS.test(address)) {
    throw new ProtoError(
      'PROTO_BAD_ADDRESS',
      `"${address}" is not a gRPC address: use host:port (e.g. 127.0.0.1:50051), [::1]:port or unix:/path`,
    );
  }
  return address;
}

const LARGER_THAN_MAX = /larger than max \((\d+) vs\.? (\d+)\)/;

/** Rewrites grpc-js's terse "larger than max (a vs. b)" into a message that says what to fix. */
function explainSizeError(e: unknown): void {
  if (e instanceof RpcError && e.code === 'RESOURCE_EXHAUSTED') {
    const m = LARGER_THAN_MAX.exec(e.message);
    if (m)
      e.message = messageTooLargeText(
        Number(m[1]),
        Number(m[2]),
        /Sent/i.test(e.message) ? 'client' : 'server',
      );
  }
}

function tooLarge(size: number, limit: number): RpcError {
  return new RpcError(messageTooLargeText(size, limit, 'client'), 'RESOURCE_EXHAUSTED');
}

function rejected<T>(e: unknown): Promise<T> {
  const p = Promise.reject(e);
  p.catch(() => undefined);
  return p;
}

/**
 * Interceptor that refuses requests over the limit before they are sent (RESOURCE_EXHAUSTED with a readable
 * message) and makes grpc-js's own size errors readable.
 */
export function messageLimitInterceptor(limit: number): RpcInterceptor {
  const size = (method: MethodInfo, input: object) => method.I.toBinary(input as never).length;
  return {
    interceptUnary(next, method, input, options) {
      const n = size(method, input);
      if (n > limit) {
        const err = tooLarge(n, limit);
        return new UnaryCall(
          method,
          options.meta ?? {},
          input,
          rejected(err),
          rejected(err),
          rejected(err),
          rejected(err),
        );
      }
      const call = next(method, input, options);
      call.response.catch(explainSizeError);
      return call;
    },
    interceptServerStreaming(next, method, input, options) {
      const n = size(method, input);
      if (n > limit) {
        const err = tooLarge(n, limit);
        const out = new RpcOutputStreamController<object>();
        out.notifyError(err);
        return new ServerStreamingCall(
          method,
          options.meta ?? {},
          input,
          rejected(err),
          out,
          rejected(err),
          rejected(err),
        );
      }
      const call = next(method, input, options);
      call.status.catch(explainSizeError);
      return call;
    },
  };
}

/** Opens one channel to a skill and returns its typed clients (skills.Skill, skills.Health, grpc.health.v1). */
export function connectSkill(address: string, opts: ConnectOptions = {}): SkillConnection {
  const maxMessageBytes = resolveMaxMessageBytes(opts);
  const transport = new GrpcTransport({
    host: assertAddress(address),
    channelCredentials: opts.credentials ?? ChannelCredentials.createInsecure(),
    clientOptions: grpcOptions({ maxMessageBytes }),
    interceptors: [messageLimitInterceptor(maxMessageBytes)],
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });
  return {
    address,
    maxMessageBytes,
    transport,
    skill: new SkillClient(transport),
    health: new HealthClient(transport),
    grpcHealth: new GrpcHealthClient(transport),
    close: () => transport.close(),
  };
}

/** A skill error recovered from a failed call: the stable code, the message after it and the gRPC status name. */
export interface SkillErrorInfo {
  code: string;
  message: string;
  status: string;
}

const WIRE_ERROR = /^([A-Z][A-Z0-9]*_[A-Z0-9_]+): ([\s\S]*)$/;

/**
 * The skill error code carried by a failed call (`RpcError` whose message is `"<CODE>: <message>"`, the format every
 * skill sends), or undefined for any other error (transport failures, deadlines set by the client, ...).
 */
export function skillErrorOf(e: unknown): SkillErrorInfo | undefined {
  if (!(e instanceof RpcError)) return undefined;
  const m = WIRE_ERROR.exec(decodeURIComponentSafe(e.message));
  return m ? { code: m[1] as string, message: m[2] as string, status: e.code } : undefined;
}

/** grpc-web/grpc-js may percent-encode status details; plain text passes through unchanged. */
function decodeURIComponentSafe(s: string): string {
  try {
    return /%[0-9A-F]{2}/i.test(s) ? decodeURIComponent(s) : s;
  } catch {
    return s;
  }
}
