import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { errorMessage } from '@sarai/formats';
import { TrainerError } from './errors.js';
import { createTrainerLogger } from './logger.js';
import { verifyAdapterManifest } from './manifest.js';
import { runNightly } from './nightly.js';
import type { LoraTarget } from './train/types.js';

export const CLI_USAGE = `usage:
  sarai-lora-trainer nightly [options]     train, sign and publish a LoRA adapter from the interaction log
  sarai-lora-trainer verify --manifest FILE --trusted-key FILE

nightly options (environment defaults in brackets):
  --log FILE           interaction log JSONL            [SARAI_LORA_LOG, /data/interactions.jsonl]
  --base FILE          frozen base model GGUF           [SARAI_LORA_BASE_MODEL, /models/base.gguf]
  --adapters DIR       published adapters directory     [SARAI_LORA_ADAPTERS_DIR, /data/adapters]
  --lock FILE          lock against overlapping runs    [SARAI_LORA_LOCK, /data/nightly.lock]
  --key-file FILE      armored private signing key      [SARAI_SIGNING_KEY_FILE / SARAI_SIGNING_KEY]
  --rank N --alpha X --targets a,b --lr X --lr-min X --weight-decay X --optimizer adamw|sgd
  --epochs N --context N --threads N --seed N --eval-fraction X --system-prompt TEXT
  --force              train even if nothing changed since the newest adapter
  --progress           show a progress bar on stderr (default when stderr is a TTY)

exit codes: 0 trained, 3 nothing to train, 4 locked, 1 error, 2 usage`;

export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  env: NodeJS.ProcessEnv;
  logger?: Logger;
}

const num = (value: string | undefined, name: string): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n))
    throw new TrainerError('TRAINER_INVALID_OPTIONS', `--${name} must be a number, got "${value}"`);
  return n;
};

/** Runs the CLI; returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'nightly') return await nightly(rest, io);
    if (command === 'verify') return await verify(rest, io);
    io.stderr(CLI_USAGE);
    return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  } catch (error) {
    if (error instanceof TrainerError && error.code === 'TRAINER_INVALID_OPTIONS') {
      io.stderr(`${error.message}\n\n${CLI_USAGE}`);
      return 2;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`${errorMessage(error)}\n\n${CLI_USAGE}`);
      return 2;
    }
    io.stderr(`error: ${errorMessage(error)}`);
    return 1;
  }
}

async function nightly(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      log: { type: 'string' },
      base: { type: 'string' },
      adapters: { type: 'string' },
      lock: { type: 'string' },
      'key-file': { type: 'string' },
      rank: { type: 'string' },
      alpha: { type: 'string' },
      targets: { type: 'string' },
      lr: { type: 'string' },
      'lr-min': { type: 'string' },
      'weight-decay': { type: 'string' },
      optimizer: { type: 'string' },
      epochs: { type: 'string' },
      context: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      'eval-fraction': { type: 'string' },
      'system-prompt': { type: 'string' },
      force: { type: 'boolean', default: false },
      progress: { type: 'boolean' },
    },
  });
  const env = io.env;
  const logger = io.logger ?? createTrainerLogger();
  const optimizer = values.optimizer;
  if (optimizer !== undefined && optimizer !== 'adamw' && optimizer !== 'sgd') {
    throw new TrainerError('TRAINER_INVALID_OPTIONS', `--optimizer must be adamw or sgd, got "${optimizer}"`);
  }
  const defined = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  const keyFile = values['key-file'];
  const result = await runNightly({
    logPath: values.log ?? env['SARAI_LORA_LOG'] ?? '/data/interactions.jsonl',
    baseModel: values.base ?? env['SARAI_LORA_BASE_MODEL'] ?? '/models/base.gguf',
    adaptersDir: values.adapters ?? env['SARAI_LORA_ADAPTERS_DIR'] ?? '/data/adapters',
    lockFile: values.lock ?? env['SARAI_LORA_LOCK'] ?? '/data/nightly.lock',
    signingKey: { env, ...(keyFile !== undefined ? { keyFile } : {}) },
    force: values.force,
    logger,
    ...defined({
      rank: num(values.rank, 'rank'),
      alpha: num(values.alpha, 'alpha'),
      targets: values.targets?.split(',').map((t) => t.trim()) as LoraTarget[] | undefined,
      learningRate: num(values.lr, 'lr'),
      learningRateMin: num(values['lr-min'], 'lr-min'),
      weightDecay: num(values['weight-decay'], 'weight-decay'),
      optimizer,
      epochs: num(values.epochs, 'epochs'),
      contextSize: num(values.context, 'context'),
      threads: num(values.threads, 'threads'),
      seed: num(values.seed, 'seed'),
      evalFraction: num(values['eval-fraction'], 'eval-fraction'),
      systemPrompt: values['system-prompt'],
      progressBar: values.progress,
    }),
  });
  io.stdout(
    JSON.stringify({
      status: result.status,
      exitCode: result.exitCode,
      ...(result.reason !== undefined ? { reason: result.reason } : {}),
      ...(result.error ? { code: result.error.code } : {}),
      ...(result.artifacts ? { artifacts: result.artifacts } : {}),
      ...(result.manifest ? { losses: result.manifest.losses, throughput: result.manifest.throughput } : {}),
    }),
  );
  return result.exitCode;
}

async function verify(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { manifest: { type: 'string' }, 'trusted-key': { type: 'string' }, adapter: { type: 'string' } },
  });
  if (values.manifest === undefined || values['trusted-key'] === undefined) {
    throw new TrainerError('TRAINER_INVALID_OPTIONS', 'verify needs --manifest and --trusted-key');
  }
  const trusted = await readFile(values['trusted-key'], 'utf8');
  try {
    const v = await verifyAdapterManifest({
      manifestPath: values.manifest,
      trusted,
      ...(values.adapter !== undefined ? { adapterPath: values.adapter } : {}),
    });
    io.stdout(
      JSON.stringify({
        valid: true,
        adapter: v.adapterPath,
        fingerprint: v.fingerprint,
        sha256: v.manifest.adapter.sha256,
      }),
    );
    return 0;
  } catch (error) {
    if (error instanceof TrainerError && error.code === 'TRAINER_MANIFEST_INVALID') {
      io.stdout(JSON.stringify({ valid: false, reason: error.message }));
      return 1;
    }
    throw error;
  }
}
