// Entrypoint of the skill-image container: node /app/node_modules/@sarai/skill-image/dist/main.js
import { createLogger, handleSignals, parseEnvConfig, runMain } from '@sarai/skill-runtime';
import { imageConfigSchema, pipelineOptionsFromConfig } from './config.js';
import { startImageSkill } from './service.js';

runMain(async () => {
  const config = parseEnvConfig(imageConfigSchema);
  const logger = createLogger({ name: 'image', level: config.LOG_LEVEL, logPrompts: config.LOG_PROMPTS });
  const { running } = await startImageSkill({
    pipeline: pipelineOptionsFromConfig(config),
    logger,
    host: config.HOST,
    port: config.PORT,
    metricsPort: config.METRICS_PORT,
    maxMessageBytes: Math.floor(config.SARAI_GRPC_MAX_MESSAGE_MB * 1024 * 1024),
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  });
  handleSignals(running, logger);
});
