// Public API of @sarai/proto: the skills contract (messages, clients, grpc-js server definitions),
// the standard grpc.health.v1 contract, and channel/server helpers with message limits that fit images.
export {
  ActivateAdapterReq,
  AdapterInfo,
  AdaptersReply,
  AdaptersReq,
  RejectedAdapter,
  CacheStatsReply,
  CacheStatsReq,
  GenChunk,
  GenReply,
  GenReq,
  Health,
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  ImageReply,
  ImageReq,
  Skill,
} from './gen/skills.js';
export { HealthClient, SkillClient, type IHealthClient, type ISkillClient } from './gen/skills.client.js';
export { healthDefinition, skillDefinition, type IHealth, type ISkill } from './gen/skills.grpc-server.js';
export * as grpcHealthV1 from './gen/grpc/health/v1/health.js';
export { HealthClient as GrpcHealthClient } from './gen/grpc/health/v1/health.client.js';
export { healthDefinition as grpcHealthDefinition } from './gen/grpc/health/v1/health.grpc-server.js';
export { ProtoError, type ProtoErrorCode } from './errors.js';
export {
  imageContentHash,
  preprocessImageHashFirst,
  type HashFirstReply,
  type ImageCallOptions,
} from './image-client.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  GRPC_DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MESSAGE_ENV,
  formatBytes,
  grpcOptions,
  messageTooLargeText,
  resolveMaxMessageBytes,
  type MessageLimitOptions,
} from './options.js';
export {
  assertAddress,
  connectSkill,
  messageLimitInterceptor,
  type ConnectOptions,
  skillErrorOf,
  type SkillConnection,
  type SkillErrorInfo,
} from './client.js';
export {
  SKILL_ERROR_CODE,
  SkillHealth,
  bindServer,
  createGrpcServer,
  rpcStatus,
  skillErrorStatus,
  type ServingStatus,
} from './server.js';
export { RpcError, type RpcOptions } from '@protobuf-ts/runtime-rpc';
export { status as GrpcStatus } from '@grpc/grpc-js';
