// HEALTHCHECK for skill images (no shell, no grpc_health_probe binary in our base image):
//   node /app/node_modules/@sarai/skill-runtime/dist/healthcheck.js [address] [service]
// Asks grpc.health.v1.Health/Check on 127.0.0.1:$PORT (default 50051); exits 0 only when SERVING.
import { connectSkill, grpcHealthV1 } from '@sarai/proto';

const address = process.argv[2] ?? `127.0.0.1:${process.env['PORT'] || '50051'}`;
const service = process.argv[3] ?? '';
const conn = connectSkill(address, { timeoutMs: 2_000 });
try {
  const { response } = await conn.grpcHealth.check({ service });
  const name = grpcHealthV1.HealthCheckResponse_ServingStatus[response.status];
  process.stdout.write(`${address} ${service || '(server)'}: ${name}\n`);
  process.exitCode = response.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING ? 0 : 1;
} catch (e) {
  process.stdout.write(`${address}: health check failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  conn.close();
}
