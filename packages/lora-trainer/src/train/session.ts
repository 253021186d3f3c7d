import type { Logger } from 'pino';
import { TrainerError, type TrainerErrorCode } from '../errors.js';
import type { LlamaFunctions, LlamaLibrary } from '../ffi/library.js';
import type { ProgressReporter } from '../progress.js';
import type { TrainHyperParameters, TrainLoraOptions } from './types.js';

/** Owns every native resource of one run; `close()` frees them in reverse order. */
export class Session {
  private readonly cleanups: Array<() => void | Promise<void>> = [];
  defer(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }
  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  }
}

/** What every step of one training run shares: the library, the resolved settings, the resources it owns. */
export interface TrainRun {
  readonly options: TrainLoraOptions;
  readonly hp: TrainHyperParameters;
  readonly lib: LlamaLibrary;
  readonly fn: LlamaFunctions;
  readonly session: Session;
  readonly progress: ProgressReporter;
  readonly logger: Logger | undefined;
  /** Throws TRAINER_ABORTED once the run's AbortSignal fired. */
  checkAbort(): void;
  /** A TrainerError whose message carries llama.cpp's last logged errors. */
  nativeError(code: TrainerErrorCode, what: string): TrainerError;
}

/** The shared state of a run over `lib`, owning `session` and `progress`. */
export function createTrainRun(
  options: TrainLoraOptions,
  hp: TrainHyperParameters,
  lib: LlamaLibrary,
  session: Session,
  progress: ProgressReporter,
): TrainRun {
  return {
    options,
    hp,
    lib,
    fn: lib.fn,
    session,
    progress,
    logger: options.logger,
    checkAbort() {
      if (options.signal?.aborted) throw new TrainerError('TRAINER_ABORTED', 'training was aborted');
    },
    nativeError(code, what) {
      const recent = lib.recentErrors().slice(-3);
      return new TrainerError(code, `${what}${recent.length > 0 ? `: ${recent.join(' | ')}` : ''}`);
    },
  };
}
