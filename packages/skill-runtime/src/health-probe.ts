import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { socketPathOf } from './unix-address.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus names by number. */
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** What one grpc.health.v1.Health/Check answered, or why there is no answer. */
export type HealthProbeResult = { ok: true; status: number; name: string } | { ok: false; message: string };

const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
};

/** A length-prefixed gRPC message carrying HealthCheckRequest { string service = 1; }. */
export function healthRequestFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message =
    name.length > 0 ? Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/**
 * The `status` of the HealthCheckResponse in a gRPC response body (length-prefixed message); 0 (UNKNOWN) when the
 * field is absent, as protobuf decodes it. Throws on a body that is not one well-formed uncompressed message.
 */
export function healthStatusOf(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) throw new Error('not an uncompressed gRPC message');
  const end = 5 + body.readUInt32BE(1);
  if (end > body.length) throw new Error('truncated gRPC message');
  let status = 0;
  let pos = 5;
  const readVarint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= end || shift > 28) throw new Error('bad varint in HealthCheckResponse');
      const b = body[pos++] as number;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) return v >>> 0;
    }
  };
  while (pos < end) {
    const key = readVarint();
    const wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (key >>> 3 === 1) status = v;
    } else if (wire === 2) {
      const length = readVarint(); // read first: `pos += readVarint()` would add to the old position
      pos += length;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unexpected wire type ${wire} in HealthCheckResponse`);
  }
  return status;
}

/**
 * Asks grpc.health.v1.Health/Check over HTTP/2 with Node's own http2 module: no gRPC library is loaded, so the
 * probe costs little more than starting Node (an image HEALTHCHECK runs it every few seconds next to the workload).
 * `address` is `host:port` or `unix:/path`. Never throws.
 */
export function probeHealth(address: string, service = '', timeoutMs = 2_000): Promise<HealthProbeResult> {
  return new Promise((resolve) => {
    let session: ClientHttp2Session | undefined;
    const done = (r: HealthProbeResult) => {
      clearTimeout(timer);
      session?.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, message: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    const socketPath = socketPathOf(address);
    try {
      session = socketPath
        ? connect('http://localhost', { createConnection: () => netConnect(socketPath) })
        : connect(`http://${address}`);
    } catch (e) {
      done({ ok: false, message: (e as Error).message });
      return;
    }
    session.on('error', (e) => done({ ok: false, message: e.message }));
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    const finish = (headers: Record<string, unknown>) => {
      const code = Number(headers['grpc-status']);
      if (code !== 0) {
        const message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        done({ ok: false, message: `gRPC status ${code}${message ? `: ${message}` : ''}` });
        return;
      }
      try {
        const status = healthStatusOf(Buffer.concat(chunks));
        done({ ok: true, status, name: STATUS_NAMES[status] ?? String(status) });
      } catch (e) {
        done({ ok: false, message: (e as Error).message });
      }
    };
    req.on('response', (headers) => {
      // Trailers-only response (an error before any message): grpc-status comes with the headers.
      if (headers['grpc-status'] !== undefined) finish(headers);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (trailers) => finish(trailers));
    req.on('error', (e) => done({ ok: false, message: e.message }));
    req.end(healthRequestFrame(service));
  });
}
