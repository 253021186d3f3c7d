#!/usr/bin/env node
// Builds llama.cpp's `llama-bench`, `llama-batched-bench` and `llama-batched` (its own generation loop with sampling, an
// example program) next to each other from the source bundled in node-llama-cpp's npm package (offline: git + cmake + g++),
// once, into a cache directory outside git. Prints the binary's path on stdout.
//   node bench/build-llama-bench.mjs [--force]
// Env: SARAI_LLAMA_CACHE (default ~/.cache/sarai-draft).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { homedir, availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

// node-llama-cpp's exports hide package.json: walk up from its entry point.
let nlcDir = dirname(fileURLToPath(import.meta.resolve('node-llama-cpp')));
while (!existsSync(join(nlcDir, 'llama', 'llama.cpp.info.json'))) nlcDir = dirname(nlcDir);
const info = JSON.parse(readFileSync(join(nlcDir, 'llama', 'llama.cpp.info.json'), 'utf8'));
const bundle = join(nlcDir, 'llama', 'gitRelease.bundle');
const cache =
  process.env.SARAI_LLAMA_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sarai-draft');
const root = join(cache, `llama.cpp-${info.tag}`);
const src = join(root, 'src');
const build = join(root, 'build');
const binary = join(build, 'bin', 'llama-bench');
const TARGETS = ['llama-bench', 'llama-batched-bench', 'llama-batched'];
const missing = () => TARGETS.filter((t) => !existsSync(join(build, 'bin', t)));

const log = (m) => process.stderr.write(`build-llama-bench: ${m}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 2, 'inherit'], ...opts });

export function llamaBenchPath() {
  return binary;
}

if (process.argv.includes('--force')) rmSync(root, { recursive: true, force: true });
if (missing().length === 0) {
  log(`cached: ${binary}`);
} else if (existsSync(binary)) {
  const targets = missing();
  log(`building ${targets.join(' and ')} next to the cached llama-bench`);
  // An older cache was configured without the example programs (llama-batched is one).
  run('cmake', ['-S', src, '-B', build, '-DLLAMA_BUILD_EXAMPLES=ON']);
  run('cmake', ['--build', build, '--target', ...targets, '-j', String(availableParallelism())]);
} else {
  for (const tool of ['git', 'cmake', 'g++']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      log(`${tool} is missing: apt-get install -y git cmake g++ (Debian)`);
      process.exit(1);
    }
  }
  mkdirSync(root, { recursive: true });
  if (!existsSync(join(src, 'CMakeLists.txt'))) {
    log(`cloning ${bundle} (llama.cpp ${info.tag})`);
    rmSync(src, { recursive: true, force: true });
    run('git', ['clone', '--quiet', bundle, src]);
  }
  const started = Date.now();
  log('configuring (native CPU build, defaults otherwise)');
  const generator = (() => {
    try {
      execFileSync('ninja', ['--version'], { stdio: 'ignore' });
      return ['-G', 'Ninja'];
    } catch {
      return [];
    }
  })();
  run('cmake', [
    '-S',
    src,
    '-B',
    build,
    ...generator,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DLLAMA_CURL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=ON',
    '-DLLAMA_BUILD_SERVER=OFF',
    '-DGGML_NATIVE=ON',
  ]);
  log(`building ${TARGETS.join(' and ')} with ${availableParallelism()} jobs`);
  run('nice', [
    '-n',
    '10',
    'cmake',
    '--build',
    build,
    '--target',
    ...TARGETS,
    '-j',
    String(availableParallelism()),
  ]);
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
process.stdout.write(`${binary}\n`);
