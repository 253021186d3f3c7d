import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { SandboxServiceClient } from './gen/sarai/sandbox/v1/sandbox.client.js';

/** A typed client of `sarai.sandbox.v1.SandboxService` and the channel under it. */
export interface SandboxConnection {
  readonly client: SandboxServiceClient;
  readonly address: string;
  /** Closes the channel. */
  close(): void;
}

/**
 * Connects (lazily) to a sandbox skill at `address`: `host:port`, or `unix:/path/to.sock` — the form a sandbox in a
 * network-less container is reached by (its socket lives on a volume shared with the caller).
 */
export function connectSandbox(address: string): SandboxConnection {
  const transport = new GrpcTransport({
    host: address,
    channelCredentials: ChannelCredentials.createInsecure(),
  });
  return { client: new SandboxServiceClient(transport), address, close: () => transport.close() };
}
