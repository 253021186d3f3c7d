import type { Logger } from 'pino';
import { SkillRuntimeError } from './errors.js';
import type { RunningSkill } from './server.js';

/** SIGTERM/SIGINT → graceful shutdown (drain) → exit 0. A second signal exits at once. */
export function handleSignals(running: RunningSkill, logger: Logger): void {
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
 * Runs a service's main function. A configuration or start-up error prints one line naming the problem and exits
 * with code 2 (config) or 1 (other); no stack trace for user errors.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (e instanceof SkillRuntimeError) {
      process.stderr.write(`error [${e.code}]: ${e.message}\n`);
      process.exit(e.code === 'RUNTIME_BAD_CONFIG' ? 2 : 1);
    }
    process.stderr.write(`fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
