import cliProgress from 'cli-progress';
import type { TrainProgress } from './train/types.js';

/** Progress display of a training run: one bar per pass (eval before, each epoch, eval after). */
export interface ProgressReporter {
  start(label: string, total: number): void;
  update(progress: TrainProgress): void;
  finish(): void;
  stop(): void;
}

const nothing = (): void => undefined;
const NOOP: ProgressReporter = { start: nothing, update: nothing, finish: nothing, stop: nothing };

/** A cli-progress bar on stderr showing the running loss and tokens/s, or a no-op when disabled. */
export function createProgressReporter(
  enabled: boolean,
  stream: NodeJS.WritableStream = process.stderr,
): ProgressReporter {
  if (!enabled) return NOOP;
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(label, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: '{label} |{bar}| {value}/{total} rows | loss {loss} | {speed} tok/s | ETA {eta_formatted}',
          hideCursor: false,
          clearOnComplete: false,
          etaBuffer: 8,
          // Explicitly enabled without a TTY (container logs): a line every few seconds instead of redraws.
          noTTYOutput: !(stream as NodeJS.WriteStream).isTTY,
          notTTYSchedule: 5000,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { label: label.padEnd(12), loss: '-', speed: '-' });
    },
    update(p) {
      bar?.update(p.step, { loss: p.loss.toFixed(4), speed: Math.round(p.tokensPerSecond).toString() });
    },
    finish() {
      bar?.stop();
      bar = null;
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
