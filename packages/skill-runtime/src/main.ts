import type { Logger } from 'pino';
import { errorCodeOf } from './error-model.js';
import type { RunningSkill } from './server.js';

/** SIGTERM/SIGINT → graceful shutdown (drain) → exit 0. A second signal exits at once. */
export function handleSignals(running: Pick<RunningSkill, 'shutdown'>, logger: Logger): void {
  let seen = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (seen) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    seen = true;
    logger.info({ signal }, 'signal received, shutting down');
    running.shutdown(signal).then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/**
 * Runs a service's main function. An error with a stable code prints one line `error [CODE]: message` and exits
 * with 2 for a configuration error (`*_BAD_CONFIG`) or 1 otherwise; no stack trace. Anything else prints its stack.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const code = errorCodeOf(e);
    if (code) {
      process.stderr.write(`error [${code}]: ${(e as Error).message}\n`);
      process.exit(code.endsWith('_BAD_CONFIG') ? 2 : 1);
    }
    process.stderr.write(`fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
