// Entry point of the draft skill image: config from env, gRPC server (NOT_SERVING), model load (SERVING),
// SIGTERM → NOT_SERVING, drain, exit 0.
import { SkillRuntimeError, createLogger, handleSignals, runMain } from '@sarai/skill-runtime';
import { loadDraftConfig } from './config.js';
import { DraftError } from './errors.js';
import { startDraftService } from './service.js';

runMain(async () => {
  const config = loadDraftConfig();
  const logger = createLogger({ name: 'draft', level: config.LOG_LEVEL, logPrompts: config.LOG_PROMPTS });
  const service = await startDraftService(config, { logger });
  handleSignals(service.running, logger);
  try {
    await service.load();
  } catch (e) {
    await service.shutdown('model load failed').catch(() => undefined);
    if (e instanceof DraftError) throw new SkillRuntimeError('RUNTIME_START_FAILED', e.message, { cause: e });
    throw e;
  }
});
