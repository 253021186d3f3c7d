/** The socket path of a `unix:/path` (or `unix:///path`) address, as grpc-js accepts it; undefined for TCP. */
export function socketPathOf(address: string): string | undefined {
  if (!address.startsWith('unix:')) return undefined;
  return address.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
}
