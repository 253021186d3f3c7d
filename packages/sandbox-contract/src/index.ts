export {
  Language,
  Limits,
  RunTestsRequest,
  RunTestsResponse,
  StopReason,
  TestCase,
  TestResult,
  SandboxService,
} from './gen/sarai/sandbox/v1/sandbox.js';
export { SandboxServiceClient, type ISandboxServiceClient } from './gen/sarai/sandbox/v1/sandbox.client.js';
export {
  sandboxServiceDefinition,
  type ISandboxService,
} from './gen/sarai/sandbox/v1/sandbox.grpc-server.js';
export { connectSandbox, type SandboxConnection } from './connect.js';
