import type { ChannelOptions } from '@grpc/grpc-js';
import { ProtoError } from './errors.js';

/** 4 MiB is grpc-js's default receive limit: too small for camera pictures. */
export const GRPC_DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Our default limit for skills' messages (client and server side). */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;
/** Environment variable that overrides {@link DEFAULT_MAX_MESSAGE_BYTES}, in MiB. */
export const MAX_MESSAGE_ENV = 'SARAI_GRPC_MAX_MESSAGE_MB';

export interface MessageLimitOptions {
  /** Largest message accepted and sent, in bytes. Defaults to `SARAI_GRPC_MAX_MESSAGE_MB` or 32 MiB. */
  maxMessageBytes?: number;
}

/** Resolves the message limit from explicit options, then the environment, then the default. */
export function resolveMaxMessageBytes(
  opts: MessageLimitOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (opts.maxMessageBytes !== undefined) {
    const v = opts.maxMessageBytes;
    if (!Number.isInteger(v) || v < 1024 || v > 2 ** 31 - 1) {
      throw new ProtoError(
        'PROTO_BAD_OPTION',
        `maxMessageBytes must be an integer between 1024 and ${2 ** 31 - 1}, got ${v}`,
      );
    }
    return v;
  }
  const raw = env[MAX_MESSAGE_ENV];
  if (raw !== undefined && raw !== '') {
    const mb = Number(raw);
    if (!Number.isFinite(mb) || mb <= 0 || mb > 2047) {
      throw new ProtoError(
        'PROTO_BAD_OPTION',
        `${MAX_MESSAGE_ENV} must be a number of MiB in (0, 2047], got "${raw}"`,
      );
    }
    return Math.floor(mb * 1024 * 1024);
  }
  return DEFAULT_MAX_MESSAGE_BYTES;
}

/** grpc-js channel/server options carrying the message limits (both directions) and sane keepalives. */
export function grpcOptions(opts: MessageLimitOptions = {}): ChannelOptions {
  const max = resolveMaxMessageBytes(opts);
  return {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  };
}

/** Human-readable size, e.g. "5.0 MiB". */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Explains a message-size failure in words that say what to fix. */
export function messageTooLargeText(
  size: number | undefined,
  limit: number,
  side: 'client' | 'server',
): string {
  const what = size === undefined ? 'the message' : `a message of ${formatBytes(size)}`;
  return (
    `${what} exceeds the ${side}'s ${formatBytes(limit)} gRPC message limit: send less data ` +
    `(e.g. a smaller image) or raise ${MAX_MESSAGE_ENV} on both client and server`
  );
}
