import { spawn } from 'node:child_process';
import { chown, mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { parse } from '../args.js';
import { CliError, usageError } from '../errors.js';
import type { Io } from '../io.js';
import { statePaths } from '../session.js';

export const LORA_USAGE = `usage: sarai lora nightly [--local] [--base FILE] [--image TAG] [-- trainer options]
  Trains a LoRA adapter from state/interactions.jsonl (runs that passed their checkers or were corrected), signs its
  manifest and publishes it into state/lora/adapters. By default it runs in the hardened trainer container with no
  network (docker; image sarai/lora-trainer:dev, build it with: npx nx run @sarai/lora-trainer:image); --local runs
  the same trainer as a local process. Base model: --base, else SARAI_LORA_BASE_MODEL, else SARAI_DRAFT_MODEL.
  Exit codes (cron-friendly): 0 trained, 3 nothing to train, 4 another run holds the lock, 1 error, 2 usage.
  Trainer options after "--" (e.g. -- --epochs 3 --rank 8); see: sarai lora nightly --local -- --help`;

const require = createRequire(import.meta.url);

function spawnExit(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const p = spawn(cmd, args, { env, stdio: 'inherit' });
    p.once('error', (e) => reject(new CliError('CLI_FAILED', `cannot run ${cmd}: ${e.message}`)));
    p.once('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0)));
  });
}

export async function loraCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'nightly') throw usageError(LORA_USAGE);
  const dash = rest.indexOf('--');
  const own = dash < 0 ? rest : rest.slice(0, dash);
  const passthrough = dash < 0 ? [] : rest.slice(dash + 1);
  const { values } = parse(
    own,
    { local: { type: 'boolean' }, base: { type: 'string' }, image: { type: 'string' } },
    0,
  );
  if (values.help) return (io.stdout(LORA_USAGE + '\n'), 0);
  const paths = statePaths(io);
  const loraDir = join(paths.state, 'lora');
  const adapters = join(loraDir, 'adapters');
  const base =
    (values.base as string | undefined) ?? io.env['SARAI_LORA_BASE_MODEL'] ?? io.env['SARAI_DRAFT_MODEL'];
  if (!base)
    throw new CliError(
      'CLI_CONFIG',
      'no base model: pass --base FILE or set SARAI_LORA_BASE_MODEL (the GGUF the draft skill serves)',
    );
  const baseModel = resolve(io.cwd, base);
  if (!existsSync(baseModel)) throw new CliError('CLI_CONFIG', `base model ${baseModel} does not exist`);
  await mkdir(adapters, { recursive: true });
  const keyFile = io.env['SARAI_SIGNING_KEY_FILE'] ?? join(paths.state, 'keys', 'private.asc');
  if (!io.env['SARAI_SIGNING_KEY'] && !existsSync(keyFile)) {
    throw new CliError(
      'CLI_CONFIG',
      `no signing key at ${keyFile}: run "sarai keys generate" or set SARAI_SIGNING_KEY_FILE`,
    );
  }
  const log = paths.interactions;
  const logExists = await stat(log).then(
    () => true,
    () => false,
  );
  if (!logExists) {
    io.stderr(`nothing to train: ${log} does not exist yet (run some loops first)\n`);
    return 3;
  }

  if (values.local) {
    let main: string;
    try {
      main = join(dirname(require.resolve('@sarai/lora-trainer/package.json')), 'dist', 'main.js');
    } catch {
      throw new CliError('CLI_CONFIG', '@sarai/lora-trainer is not installed: run npm ci');
    }
    return spawnExit(
      process.execPath,
      [
        main,
        'nightly',
        '--log',
        log,
        '--base',
        baseModel,
        '--adapters',
        adapters,
        '--lock',
        join(loraDir, 'nightly.lock'),
        ...(io.env['SARAI_SIGNING_KEY'] ? [] : ['--key-file', keyFile]),
        ...passthrough,
      ],
      io.env,
    );
  }

  // The hardened, network-less container (the seed's limits: 2 CPUs, 4 GB). Only state/lora is writable.
  if (process.getuid?.() === 0) await chown(loraDir, 1000, 1000).then(() => chown(adapters, 1000, 1000));
  const image =
    (values.image as string | undefined) ?? io.env['SARAI_LORA_TRAINER_IMAGE'] ?? 'sarai/lora-trainer:dev';
  const dockerArgs = [
    'run',
    '--rm',
    '--network',
    'none',
    '--read-only',
    '--tmpfs',
    '/tmp:size=256m,mode=1777',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges:true',
    '--cpus',
    '2',
    '--memory',
    '4g',
    '--memory-swap',
    '4g',
    '--pids-limit',
    '128',
    '--user',
    '1000:1000',
    '-v',
    `${loraDir}:/data`,
    '-v',
    `${log}:/input/interactions.jsonl:ro`,
    '-v',
    `${baseModel}:/models/${basename(baseModel)}:ro`,
    '-v',
    `${keyFile}:/run/secrets/signing.asc:ro`,
    '-e',
    'SARAI_LORA_LOG=/input/interactions.jsonl',
    '-e',
    `SARAI_LORA_BASE_MODEL=/models/${basename(baseModel)}`,
    image,
    'nightly',
    ...passthrough,
  ];
  return spawnExit('docker', dockerArgs, io.env);
}
