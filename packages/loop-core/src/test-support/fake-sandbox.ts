// A scripted sandbox skill for the checker's control-flow tests: a real grpc-js server on loopback speaking
// sarai.sandbox.v1 (real deadlines, real health), answers computed by a script. The real sandbox (child processes,
// permission model, container) is tested in @sarai/skill-sandbox and end to end by the CLI.
import { status } from '@grpc/grpc-js';
import { SkillHealth, bindServer, createGrpcServer, rpcStatus } from '@sarai/proto';
import {
  RunTestsResponse,
  sandboxServiceDefinition,
  type ISandboxService,
  type RunTestsRequest,
} from '@sarai/sandbox-contract';

export interface FakeSandbox {
  address: string;
  requests: RunTestsRequest[];
  stop(): Promise<void>;
}

export async function startFakeSandbox(
  answer: (req: RunTestsRequest) => {
    response?: Partial<RunTestsResponse>;
    delayMs?: number;
    invalid?: string;
  },
): Promise<FakeSandbox> {
  const requests: RunTestsRequest[] = [];
  const server = createGrpcServer();
  const impl: ISandboxService = {
    runTests(call, cb) {
      requests.push(call.request);
      const a = answer(call.request);
      setTimeout(() => {
        if (a.invalid) return cb(rpcStatus(status.INVALID_ARGUMENT, `SANDBOX_BAD_REQUEST: ${a.invalid}`));
        cb(null, RunTestsResponse.create(a.response ?? {}));
      }, a.delayMs ?? 0);
    },
  };
  server.addService(sandboxServiceDefinition, impl);
  const health = new SkillHealth({ '': 'SERVING', 'sarai.sandbox.v1.SandboxService': 'SERVING' });
  health.addToServer(server);
  const port = await bindServer(server, '127.0.0.1', 0);
  return {
    address: `127.0.0.1:${port}`,
    requests,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
