/** Per-client concurrency limit: at most `max` chat completions in flight per client key (API key or address). */
export class ClientLimiter {
  private readonly active = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Takes a slot; returns its release function, or undefined when the client is at its limit. */
  acquire(client: string): (() => void) | undefined {
    const n = this.active.get(client) ?? 0;
    if (n >= this.max) return undefined;
    this.active.set(client, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(client) ?? 1) - 1;
      if (left <= 0) this.active.delete(client);
      else this.active.set(client, left);
    };
  }

  get inFlight(): number {
    let n = 0;
    for (const v of this.active.values()) n += v;
    return n;
  }
}
