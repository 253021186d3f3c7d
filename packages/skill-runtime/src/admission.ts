import { SkillRuntimeError } from './errors.js';

/** Limits of an {@link Admission}. */
export interface AdmissionLimits {
  /** Calls served at once (≥ 1). */
  concurrency: number;
  /** Calls allowed to wait for a slot (≥ 0); more are refused at once. */
  maxQueue: number;
  /**
   * Optional budget of a weighted resource in flight (e.g. bytes of decode memory): a call of weight w starts only
   * when the weights in flight plus w fit, or nothing else runs (a call heavier than the budget still runs alone).
   */
  budget?: number;
}

/** Counters an {@link Admission} reports when it refuses or cancels a call. */
export interface AdmissionState {
  active: number;
  queued: number;
  concurrency: number;
  maxQueue: number;
}

export interface AdmissionOptions extends AdmissionLimits {
  /** The error for a full queue (default: SkillRuntimeError RUNTIME_BUSY naming the limits). */
  busyError?: (s: AdmissionState) => Error;
  /** The error for a call cancelled while queued (default: SkillRuntimeError RUNTIME_CANCELLED). */
  cancelledError?: () => Error;
}

/** Gives a slot back; calling it twice is harmless. */
export type Release = () => void;

/** A queued or granted slot: `ready` resolves once it is granted; `cancel` leaves the queue. */
export interface Ticket {
  ready: Promise<Release>;
  cancel(): void;
}

interface Waiter {
  weight: number;
  start: () => void;
  fail: (e: Error) => void;
  cancelled: boolean;
}

/**
 * Admission control shared by every skill: at most `concurrency` calls at once (and at most `budget` weight in
 * flight), a FIFO queue of at most `maxQueue` waiters (no starvation of heavy calls), refusals at once when full.
 */
export class Admission {
  private inFlight = 0;
  private used = 0;
  private readonly waiting: Waiter[] = [];
  readonly limits: Required<AdmissionLimits>;

  constructor(private readonly opts: AdmissionOptions) {
    if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1))
      throw new SkillRuntimeError(
        'RUNTIME_BAD_CONFIG',
        `admission concurrency must be an integer ≥ 1, got ${opts.concurrency}`,
      );
    if (!(Number.isInteger(opts.maxQueue) && opts.maxQueue >= 0))
      throw new SkillRuntimeError(
        'RUNTIME_BAD_CONFIG',
        `admission maxQueue must be an integer ≥ 0, got ${opts.maxQueue}`,
      );
    this.limits = {
      concurrency: opts.concurrency,
      maxQueue: opts.maxQueue,
      budget: opts.budget ?? Number.POSITIVE_INFINITY,
    };
  }

  /** Calls holding a slot. */
  get active(): number {
    return this.inFlight;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** The error a refused call gets (the skill's own, or RUNTIME_BUSY). */
  busyError(): Error {
    const s = {
      active: this.inFlight,
      queued: this.waiting.length,
      concurrency: this.limits.concurrency,
      maxQueue: this.limits.maxQueue,
    };
    return (
      this.opts.busyError?.(s) ??
      new SkillRuntimeError(
        'RUNTIME_BUSY',
        `busy: ${s.active} calls running and ${s.queued} queued (concurrency ${s.concurrency}, queue ${s.maxQueue}); retry later`,
      )
    );
  }

  /** A slot now or a place in the queue; undefined when the queue is full. */
  tryAcquire(weight = 0): Ticket | undefined {
    const w = Math.min(Math.max(weight, 0), this.limits.budget);
    let released = false;
    const release: Release = () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
      this.used -= w;
      this.pump();
    };
    if (this.waiting.length === 0 && this.fits(w)) {
      this.take(w);
      return { ready: Promise.resolve(release), cancel: () => undefined };
    }
    if (this.waiting.length >= this.limits.maxQueue) return undefined;
    let start!: () => void;
    let fail!: (e: Error) => void;
    const ready = new Promise<Release>((resolve, reject) => {
      start = () => resolve(release);
      fail = reject;
    });
    ready.catch(() => undefined);
    const waiter: Waiter = { weight: w, start, fail, cancelled: false };
    this.waiting.push(waiter);
    return {
      ready,
      cancel: () => {
        if (waiter.cancelled) return;
        waiter.cancelled = true;
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        this.pump();
      },
    };
  }

  /**
   * Waits for a slot. Rejects at once with {@link busyError} when the queue is full, and with the cancelled error
   * when `signal` aborts while queued.
   */
  acquire(opts: { weight?: number; signal?: AbortSignal } = {}): Promise<Release> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(this.cancelledError());
    const ticket = this.tryAcquire(opts.weight);
    if (!ticket) return Promise.reject(this.busyError());
    if (!signal) return ticket.ready;
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        ticket.cancel();
        reject(this.cancelledError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      ticket.ready.then(
        (release) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) release();
          else resolve(release);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e as Error);
        },
      );
    });
  }

  /** Rejects every queued call with `e` (shutdown). Calls holding a slot keep it. */
  failAll(e: Error): void {
    for (const w of this.waiting.splice(0)) {
      w.cancelled = true;
      w.fail(e);
    }
  }

  private cancelledError(): Error {
    return (
      this.opts.cancelledError?.() ??
      new SkillRuntimeError('RUNTIME_CANCELLED', 'the call was cancelled while it waited for a slot')
    );
  }

  private fits(w: number): boolean {
    return (
      this.inFlight < this.limits.concurrency && (this.used + w <= this.limits.budget || this.inFlight === 0)
    );
  }

  private take(w: number): void {
    this.inFlight += 1;
    this.used += w;
  }

  private pump(): void {
    for (let next = this.waiting[0]; next !== undefined && this.fits(next.weight); next = this.waiting[0]) {
      this.waiting.shift();
      if (next.cancelled) continue;
      this.take(next.weight);
      next.start();
    }
  }
}
