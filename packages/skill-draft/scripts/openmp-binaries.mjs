#!/usr/bin/env node
// Builds node-llama-cpp's binaries from the llama.cpp source bundled in its npm package with OpenMP (offline:
// git + cmake + g++, ~4 min once) in a private copy of the same node-llama-cpp version in a cache directory outside
// git, where the draft service loads it with LLAMA_BINARIES=openmp. The workspace's node_modules is not touched.
//
// Why: the prebuilt CPU binaries are built without OpenMP, so ggml creates and joins a new worker thread pool for
// every graph it computes (every decoded token). With 2 threads on a busy 2-core machine the new thread often waits
// for a core while the calling thread spins at the first barrier; decode then collapses. OpenMP keeps its team alive.
// The build is -march=native (GGML_NATIVE=ON): it only runs on CPUs with this host's instruction set.
//   node scripts/openmp-binaries.mjs [--force]
// Env: SARAI_LLAMA_CACHE (default ~/.cache/sarai-draft).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const OPENMP_CMAKE_OPTIONS = { GGML_OPENMP: 'ON', GGML_NATIVE: 'ON' };

const log = (m) => process.stderr.write(`openmp-binaries: ${m}\n`);
let nlcDir = dirname(fileURLToPath(import.meta.resolve('node-llama-cpp')));
while (!existsSync(join(nlcDir, 'package.json')) || !existsSync(join(nlcDir, 'llama')))
  nlcDir = dirname(nlcDir);
const version = JSON.parse(readFileSync(join(nlcDir, 'package.json'), 'utf8')).version;
const cache =
  process.env.SARAI_LLAMA_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sarai-draft');
const buildRoot = join(cache, `nlc-openmp-${version}`);
const buildPkg = join(buildRoot, 'node_modules', 'node-llama-cpp');
const env = { ...process.env };
for (const [k, v] of Object.entries(OPENMP_CMAKE_OPTIONS)) env[`NODE_LLAMA_CPP_CMAKE_OPTION_${k}`] = v;

if (process.argv.includes('--force')) rmSync(buildRoot, { recursive: true, force: true });

const localBuilds = (pkg) => join(pkg, 'llama', 'localBuilds');
const builtFolder = () =>
  existsSync(localBuilds(buildPkg))
    ? readdirSync(localBuilds(buildPkg)).find((d) =>
        existsSync(join(localBuilds(buildPkg), d, 'buildDone.status')),
      )
    : undefined;

if (!builtFolder()) {
  // A private copy of the same node-llama-cpp version, so the 200 MB source clone and the build tree stay out of
  // the workspace's node_modules.
  mkdirSync(buildRoot, { recursive: true });
  if (!existsSync(buildPkg)) {
    log(`installing node-llama-cpp@${version} into ${buildRoot} (no optional GPU packages, no scripts)`);
    writeFileSync(join(buildRoot, 'package.json'), JSON.stringify({ name: 'nlc-openmp', private: true }));
    execFileSync(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--omit=optional',
        '--ignore-scripts',
        `node-llama-cpp@${version}`,
      ],
      {
        cwd: buildRoot,
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
  }
  log('building from the bundled llama.cpp source with OpenMP (~4 min)');
  const started = Date.now();
  execFileSync(
    'nice',
    [
      '-n',
      '10',
      process.execPath,
      join(buildPkg, 'dist', 'cli', 'cli.js'),
      'source',
      'download',
      '--gpu',
      'false',
      '--noUsageExample',
    ],
    {
      cwd: buildRoot,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
if (!builtFolder()) {
  log('the build did not produce a local build folder');
  process.exit(1);
}
log(`ready: ${buildPkg}`);

process.stdout.write(`${join(buildPkg, 'dist', 'index.js')}\n`);
