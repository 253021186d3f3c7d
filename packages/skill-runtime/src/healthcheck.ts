// HEALTHCHECK for skill images (no shell, no grpc_health_probe binary in our base image):
//   node /app/node_modules/@sarai/skill-runtime/dist/healthcheck.js [address] [service]
// Asks grpc.health.v1.Health/Check on 127.0.0.1:$PORT (default 50051; or `unix:/path`); exits 0 only when SERVING.
// Speaks gRPC over node:http2 itself (health-probe.ts): loading a gRPC library would cost ~3× the CPU, every
// interval, next to the workload (measured: 20 % of skill-draft's decode speed with a 2 s interval).
import { probeHealth } from './health-probe.js';

const address = process.argv[2] ?? `127.0.0.1:${process.env['PORT'] || '50051'}`;
const service = process.argv[3] ?? '';
const result = await probeHealth(address, service);
if (result.ok) {
  process.stdout.write(`${address} ${service || '(server)'}: ${result.name}\n`);
  process.exitCode = result.name === 'SERVING' ? 0 : 1;
} else {
  process.stdout.write(`${address}: health check failed: ${result.message}\n`);
  process.exitCode = 1;
}
