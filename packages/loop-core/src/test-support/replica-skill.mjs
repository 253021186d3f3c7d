// A minimal draft-skill replica for the load-balancing tests, run as its own process so a test can SIGKILL it:
// a real grpc-js server with grpc.health.v1 (SERVING), Generate answering after REPLICA_DELAY_MS with its port in
// `model`, or INTERNAL when REPLICA_FAIL=1. Prints {"port":N} once listening.
import { status } from '@grpc/grpc-js';
import {
  GenReply,
  SkillHealth,
  bindServer,
  createGrpcServer,
  rpcStatus,
  skillDefinition,
} from '@sarai/proto';

const delayMs = Number(process.env['REPLICA_DELAY_MS'] ?? '10');
const fail = process.env['REPLICA_FAIL'] === '1';
const server = createGrpcServer();
const health = new SkillHealth({ '': 'SERVING', 'skills.Skill': 'SERVING' });
let port = 0;
server.addService(skillDefinition, {
  generate(call, cb) {
    if (fail) return cb(rpcStatus(status.INTERNAL, 'this replica fails on purpose'));
    const t = setTimeout(
      () => cb(null, GenReply.create({ text: 'ok', model: String(port), finishReason: 'stop' })),
      delayMs,
    );
    call.on('cancelled', () => clearTimeout(t));
  },
});
health.addToServer(server);
port = await bindServer(server, '127.0.0.1', Number(process.env['PORT'] ?? '0'));
console.log(JSON.stringify({ port }));
