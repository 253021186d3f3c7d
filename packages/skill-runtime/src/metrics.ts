import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rssMb } from './process.js';

export interface SkillMetrics {
  registry: Registry;
  requests: Counter<'method' | 'code'>;
  latency: Histogram<'method'>;
  inFlight: Gauge<'method'>;
}

/** Standard per-skill metrics: requests by method and gRPC code, latency, in-flight calls, RSS. */
export function createSkillMetrics(skill: string, registry = new Registry()): SkillMetrics {
  registry.setDefaultLabels({ skill });
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'sarai_process_rss_bytes',
    help: 'Resident set size of the skill process',
    registers: [registry],
    collect() {
      this.set(rssMb() * 1024 * 1024);
    },
  });
  return {
    registry,
    requests: new Counter({
      name: 'sarai_grpc_requests_total',
      help: 'gRPC requests handled, by method and status code',
      labelNames: ['method', 'code'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'sarai_grpc_request_duration_seconds',
      help: 'gRPC request latency by method',
      labelNames: ['method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'sarai_grpc_in_flight',
      help: 'gRPC calls in progress, by method',
      labelNames: ['method'],
      registers: [registry],
    }),
  };
}

/** Serves `GET /metrics` (Prometheus text format) on host:port; resolves with the bound port. */
export function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics collection failed: ${err.message}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: metrics are at GET /metrics\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : port });
    });
  });
}
