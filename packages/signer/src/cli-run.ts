import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { appendAudit, verifyAuditLog } from './audit-log.js';
import { repairAuditLog } from './audit-repair.js';
import { SIGNER_ENV, generateSigningKeyPair, type EnvLike } from './keys.js';
import { createSignerLogger } from './logger.js';
import type { Logger } from 'pino';
import { PromptSigner } from './prompt-signer.js';
import { SignerError, errorMessage } from './signer-error.js';
import { verifyPrompt } from './verify.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: EnvLike;
  /** pino logger for events (fingerprints, hashes, seqs; never prompts or keys). Default: stderr at
   * `$SARAI_LOG_LEVEL` or `warn`. */
  readonly logger?: Logger;
}

export const CLI_USAGE = `Usage: sarai-signer <command> [options]

Commands:
  keygen --name NAME --email EMAIL --out DIR [--passphrase-env VAR] [--force]
      Generate a dev Ed25519 signing key: DIR/private.asc (mode 0600) and DIR/public.asc.
      Prints the fingerprint. Without --passphrase-env the private key is NOT encrypted.
  sign [--key FILE] [--key-id SELECTOR] [--passphrase-env VAR] [--in FILE] [--out FILE] [--audit LOG]
      Sign a prompt (from --in or stdin) and print it in the signed-prompt format.
      Key: --key, else $${SIGNER_ENV.key} or $${SIGNER_ENV.keyFile}; selector: --key-id, else $${SIGNER_ENV.keyId};
      passphrase: the variable named by --passphrase-env, else $${SIGNER_ENV.passphrase}.
      --audit appends a record to the audit log.
  verify --trusted FILE [--trusted FILE ...] [--in FILE]
      Verify a signed prompt; prints {valid, reason, message, fingerprint, signedAt} as JSON.
  audit-verify LOG [--trusted FILE ...] [--head SEQ:HASH]
      Verify an audit log's hash chain (and signatures with --trusted); prints the report as JSON.
  audit-repair LOG
      Remove a torn last record left by a crash (saved to LOG.torn-<time>), then verify; prints what was done as
      JSON. Refuses (exit 1, nothing changed) when anything else is wrong: that is tampering, restore a backup.

Exit status: 0 valid / done, 1 invalid or failed, 2 usage error.
`;

const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_USAGE = 2;

function usage(message: string): SignerError {
  return new SignerError('SIGNER_USAGE', message);
}

function parse(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: positionals > 0 });
  } catch (cause) {
    throw usage(errorMessage(cause));
  }
  if (parsed.positionals.length > positionals) {
    throw usage(`unexpected argument: ${parsed.positionals[positionals]}`);
  }
  return parsed;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function required(values: Record<string, unknown>, name: string): string {
  const value = str(values[name]);
  if (value === undefined || value.trim() === '') throw usage(`--${name} is required`);
  return value;
}

function passphraseFromEnv(io: CliIo, variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const value = io.env[variable];
  if (value === undefined || value === '')
    throw usage(`--passphrase-env ${variable}: the variable is not set`);
  return value;
}

async function readInput(io: CliIo, file: string | undefined): Promise<string> {
  if (file === undefined) return io.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw usage(`cannot read ${file} (${(cause as NodeJS.ErrnoException).code ?? errorMessage(cause)})`);
  }
}

async function readTrusted(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    try {
      out.push(await readFile(file, 'utf8'));
    } catch (cause) {
      throw usage(
        `cannot read trusted key file ${file} (${(cause as NodeJS.ErrnoException).code ?? errorMessage(cause)})`,
      );
    }
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function keygen(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    name: { type: 'string' },
    email: { type: 'string' },
    out: { type: 'string' },
    'passphrase-env': { type: 'string' },
    force: { type: 'boolean' },
  });
  const name = required(values, 'name');
  const email = required(values, 'email');
  const out = required(values, 'out');
  const passphrase = passphraseFromEnv(io, str(values['passphrase-env']));
  const privatePath = join(out, 'private.asc');
  const publicPath = join(out, 'public.asc');
  if (values['force'] !== true) {
    for (const path of [privatePath, publicPath]) {
      if (await exists(path))
        throw new SignerError('SIGNER_FILE_EXISTS', `${path} exists; use --force to overwrite`);
    }
  }
  const pair = await generateSigningKeyPair({
    name,
    email,
    ...(passphrase !== undefined ? { passphrase } : {}),
  }).catch((error: unknown) => {
    throw error instanceof SignerError && error.code === 'SIGNER_INVALID_INPUT'
      ? usage(error.message)
      : error;
  });
  await mkdir(out, { recursive: true, mode: 0o700 });
  await writeFile(privatePath, pair.privateKeyArmored, { mode: 0o600 });
  await chmod(privatePath, 0o600); // an existing file keeps its mode on overwrite
  await writeFile(publicPath, pair.publicKeyArmored, { mode: 0o644 });
  io.stdout(`${pair.fingerprint}\n`);
  io.stderr(`wrote ${privatePath} (0600) and ${publicPath}\n`);
  if (passphrase === undefined) io.stderr('warning: the private key is not passphrase-protected (dev key)\n');
  return EXIT_OK;
}

async function sign(args: readonly string[], io: CliIo, logger: Logger): Promise<number> {
  const { values } = parse(args, {
    key: { type: 'string' },
    'key-id': { type: 'string' },
    'passphrase-env': { type: 'string' },
    in: { type: 'string' },
    out: { type: 'string' },
    audit: { type: 'string' },
  });
  const passphrase = passphraseFromEnv(io, str(values['passphrase-env']));
  const keyFile = str(values['key']);
  const keyId = str(values['key-id']);
  const signer = await PromptSigner.load({
    env: io.env,
    logger,
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(keyId !== undefined ? { keyId } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
  });
  const text = await readInput(io, str(values['in']));
  const signed = await signer.signPrompt(text);
  const outFile = str(values['out']);
  if (outFile !== undefined) await writeFile(outFile, signed);
  else io.stdout(signed);
  const audit = str(values['audit']);
  if (audit !== undefined) {
    const record = await appendAudit(audit, signed, { fingerprint: signer.fingerprint, logger });
    io.stderr(`audit: appended seq ${record.seq} to ${audit}\n`);
  }
  return EXIT_OK;
}

async function verify(args: readonly string[], io: CliIo, logger: Logger): Promise<number> {
  const { values } = parse(args, { trusted: { type: 'string', multiple: true }, in: { type: 'string' } });
  const files = (values['trusted'] as string[] | undefined) ?? [];
  if (files.length === 0) throw usage('--trusted FILE is required (the armored public key(s) to accept)');
  const trusted = await readTrusted(files);
  const signed = await readInput(io, str(values['in']));
  const res = await verifyPrompt(signed, { trusted, logger });
  io.stdout(
    `${JSON.stringify({ valid: res.valid, reason: res.reason, message: res.message, fingerprint: res.fingerprint, signedAt: res.signedAt?.toISOString() ?? null })}\n`,
  );
  return res.valid ? EXIT_OK : EXIT_FAIL;
}

async function auditVerify(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    args,
    { trusted: { type: 'string', multiple: true }, head: { type: 'string' } },
    1,
  );
  const log = positionals[0];
  if (log === undefined) throw usage('audit-verify needs the audit log path');
  const files = (values['trusted'] as string[] | undefined) ?? [];
  const headArg = str(values['head']);
  let expectHead: { seq: number; hash: string } | undefined;
  if (headArg !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(headArg);
    if (!m) throw usage('--head must be SEQ:HASH (decimal seq, 64 hex hash)');
    expectHead = { seq: Number(m[1]), hash: m[2] as string };
  }
  const report = await verifyAuditLog(log, {
    ...(files.length > 0 ? { trusted: await readTrusted(files) } : {}),
    ...(expectHead !== undefined ? { expectHead } : {}),
  });
  io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  return report.ok ? EXIT_OK : EXIT_FAIL;
}

async function auditRepair(args: readonly string[], io: CliIo, logger: Logger): Promise<number> {
  const { positionals } = parse(args, {}, 1);
  const log = positionals[0];
  if (log === undefined) throw usage('audit-repair needs the audit log path');
  const res = await repairAuditLog(log, { logger });
  io.stdout(
    `${JSON.stringify({ repaired: res.repaired, removed: res.removed, terminated: res.terminated, savedTo: res.savedTo, records: res.report.records, head: res.report.head }, null, 2)}\n`,
  );
  return EXIT_OK;
}

/**
 * Runs the sarai-signer CLI and returns the exit status. Errors are printed as one line (`sarai-signer: <code>:
 * message`), never with a stack trace; no key material or passphrase is ever printed.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const logger = io.logger ?? createSignerLogger({ level: io.env['SARAI_LOG_LEVEL'] ?? 'warn' });
  try {
    switch (command) {
      case 'keygen':
        return await keygen(rest, io);
      case 'sign':
        return await sign(rest, io, logger);
      case 'verify':
        return await verify(rest, io, logger);
      case 'audit-verify':
        return await auditVerify(rest, io);
      case 'audit-repair':
        return await auditRepair(rest, io, logger);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(CLI_USAGE);
        return EXIT_OK;
      case undefined:
        throw usage('missing command');
      default:
        throw usage(`unknown command: ${command}`);
    }
  } catch (error) {
    if (error instanceof SignerError) {
      if (error.code === 'SIGNER_USAGE') {
        io.stderr(`sarai-signer: ${error.message}\n\n${CLI_USAGE}`);
        return EXIT_USAGE;
      }
      io.stderr(`sarai-signer: ${error.message} [${error.code}]\n`);
      return EXIT_FAIL;
    }
    io.stderr(`sarai-signer: unexpected error: ${errorMessage(error)}\n`);
    return EXIT_FAIL;
  }
}
