import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RegistriesError } from './errors.js';

const execFileAsync = promisify(execFile);

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a command; a non-zero exit becomes REGISTRIES_COMMAND_FAILED with the command's output in the message. */
export async function run(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    const out = `${err.stderr ?? ''}\n${err.stdout ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new RegistriesError(
      'REGISTRIES_COMMAND_FAILED',
      `${cmd} ${args.join(' ')} failed: ${out || err.message}`,
      {
        cause: e,
      },
    );
  }
}
