import { spawn } from 'node:child_process';
import { ContainersError } from './errors.mjs';

/**
 * Runs a command without a shell. Output is captured (and also streamed to stderr when `stream` is set).
 * Rejects with CONTAINERS_COMMAND_FAILED carrying the tail of stderr.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, stream?: boolean }} [options]
 * @returns {Promise<{ stdout: string, stderr: string }>}
 */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const err = [];
    child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
      out.push(chunk);
      if (options.stream) process.stderr.write(chunk);
    });
    child.stderr.on('data', (/** @type {Buffer} */ chunk) => {
      err.push(chunk);
      if (options.stream) process.stderr.write(chunk);
    });
    child.on('error', (cause) =>
      reject(
        new ContainersError('CONTAINERS_COMMAND_FAILED', `cannot run ${command}: ${cause.message}`, {
          cause,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr });
      const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-15).join('\n');
      reject(
        new ContainersError(
          'CONTAINERS_COMMAND_FAILED',
          `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`,
        ),
      );
    });
  });
}

/**
 * Throws CONTAINERS_DOCKER_UNAVAILABLE unless a Docker engine answers `docker info`.
 * @returns {Promise<string>} the server version
 */
export async function requireDocker() {
  try {
    const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}']);
    return stdout.trim();
  } catch (cause) {
    throw new ContainersError(
      'CONTAINERS_DOCKER_UNAVAILABLE',
      'no Docker engine is answering; run `bash tools/scripts/ensure-docker.sh` (as root) first',
      { cause },
    );
  }
}

/**
 * `docker image inspect` of one image, or undefined when it does not exist.
 * @param {string} image
 * @returns {Promise<{ Id: string, Size: number, Config: { Labels: Record<string, string> | null, User?: string, WorkingDir?: string, Env?: string[], Entrypoint?: string[] | null, Cmd?: string[] | null } } | undefined>}
 */
export async function inspectImage(image) {
  try {
    const { stdout } = await run('docker', ['image', 'inspect', image]);
    return JSON.parse(stdout)[0];
  } catch {
    return undefined;
  }
}
