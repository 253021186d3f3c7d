#!/usr/bin/env node
// Builds node-llama-cpp's binaries from the llama.cpp source bundled in its npm package with OpenMP (offline:
// git + cmake + g++, ~4 min per variant once) in a private copy of the same node-llama-cpp version in a cache directory outside
// git, where the draft service loads it with LLAMA_BINARIES=openmp. The workspace's node_modules is not touched.
//
// Why: the prebuilt CPU binaries are built without OpenMP, so ggml creates and joins a new worker thread pool for
// every graph it computes (every decoded token). With 2 threads on a busy 2-core machine the new thread often waits
// for a core while the calling thread spins at the first barrier; decode then collapses. OpenMP keeps its team alive.
// Portable CPU code, no -march=native, one build per x86-64 level (OPENMP_VARIANTS in src/engine/bindings.ts, best
// first): x86-64-v4-vnni (AVX-512 + VNNI: Cascade Lake, Ice Lake, Zen 4 and later) and x86-64-v3 (AVX2, FMA, F16C, BMI2:
// every x86-64 server CPU since Haswell/Excavator, 2013–15). The engine loads the best one the CPU runs (variant
// backends chosen at run time); on a CPU without x86-64-v3 it falls back to the prebuilt binaries
// (src/engine/cpu-level.ts). AVX-512 is what makes batching pay: llama.cpp's own 4-sequence decode gains 2.4× over one
// sequence with AVX-512 code on a Zen 4 box and only 1.35× with AVX2 code. ggml's GGML_CPU_ALL_VARIANTS would build
// ggml-cpu 14 times (~14× the compile time on 2 cores), so only these two levels are built.
// The build is cached by its inputs (node-llama-cpp version, llama.cpp release, cmake options, compiler): the cache
// folder's name carries their hash, so a change of any input builds anew and an unchanged one is reused.
// Build output goes to stderr; stdout carries exactly one line: the module path of the built copy.
//   node scripts/openmp-binaries.mjs [--force] [--print-build-dir (the llama/localBuilds folder)] [--stage]
// --stage (the image target): also copies the loadable part of the build (Release/*.node, *.so*, build metadata,
// buildDone.status) into <package>/llama-openmp/<build folder>/, which the image stages into node-llama-cpp's
// llama/localBuilds (package.json sarai.image.overlays). With SARAI_DRAFT_BINARIES=prebuilt it removes
// llama-openmp/ and builds nothing: the image then carries only the prebuilt binaries.
// Env: SARAI_LLAMA_CACHE (default ~/.cache/sarai-draft), SARAI_DRAFT_BINARIES (openmp | prebuilt, for --stage).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The cmake options have one home, src/engine/bindings.ts (the service passes them to node-llama-cpp, which names the
// build folder after them); every target that runs this script depends on `build`, so the compiled module is there.
const { OPENMP_VARIANTS, variantBuild } = await import(
  new URL('../dist/engine/bindings.js', import.meta.url).href
);

const log = (m) => process.stderr.write(`openmp-binaries: ${m}\n`);
const STAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'llama-openmp');
const stage = process.argv.includes('--stage');
if (stage && process.env.SARAI_DRAFT_BINARIES === 'prebuilt') {
  rmSync(STAGE_DIR, { recursive: true, force: true });
  log('SARAI_DRAFT_BINARIES=prebuilt: no OpenMP build staged (the image carries the prebuilt binaries only)');
  process.exit(0);
}
let nlcDir = dirname(fileURLToPath(import.meta.resolve('node-llama-cpp')));
while (!existsSync(join(nlcDir, 'package.json')) || !existsSync(join(nlcDir, 'llama')))
  nlcDir = dirname(nlcDir);
const version = JSON.parse(readFileSync(join(nlcDir, 'package.json'), 'utf8')).version;
const cache =
  process.env.SARAI_LLAMA_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sarai-draft');
const compiler = (() => {
  try {
    return execFileSync('g++', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return 'no g++';
  }
})();
const llamaTag = JSON.parse(readFileSync(join(nlcDir, 'llama', 'llama.cpp.info.json'), 'utf8')).tag;
const inputsHash = createHash('sha256')
  .update(
    JSON.stringify({ version, llamaTag, variants: OPENMP_VARIANTS.map((v) => v.cmakeOptions), compiler }),
  )
  .digest('hex')
  .slice(0, 12);
const buildRoot = join(cache, `nlc-openmp-${version}-${inputsHash}`);
const buildPkg = join(buildRoot, 'node_modules', 'node-llama-cpp');
/** The environment of one variant's build: its cmake options and no others. */
const envFor = (variant) => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('NODE_LLAMA_CPP_CMAKE_OPTION_')),
  );
  for (const [k, v] of Object.entries(variant.cmakeOptions)) env[`NODE_LLAMA_CPP_CMAKE_OPTION_${k}`] = v;
  return env;
};

if (process.argv.includes('--force')) rmSync(buildRoot, { recursive: true, force: true });

const localBuildsDir = join(buildPkg, 'llama', 'localBuilds');
const missing = () => OPENMP_VARIANTS.filter((v) => !variantBuild(localBuildsDir, v));

if (missing().length > 0) {
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
        stdio: ['ignore', 2, 'inherit'],
      },
    );
  }
  for (const variant of missing()) {
    // `source download` clones the bundled source and builds; later variants only build (another folder each).
    const hasSource = existsSync(join(buildPkg, 'llama', 'llama.cpp', 'CMakeLists.txt'));
    log(`building ${variant.name} from the bundled llama.cpp source with OpenMP (~4 min)`);
    const started = Date.now();
    execFileSync(
      'nice',
      [
        '-n',
        '10',
        process.execPath,
        join(buildPkg, 'dist', 'cli', 'cli.js'),
        'source',
        hasSource ? 'build' : 'download',
        '--gpu',
        'false',
        '--noUsageExample',
      ],
      {
        cwd: buildRoot,
        env: envFor(variant),
        stdio: ['ignore', 2, 'inherit'],
      },
    );
    log(`${variant.name} built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
if (missing().length > 0) {
  log(
    `the build did not produce a local build for ${missing()
      .map((v) => v.name)
      .join(', ')}`,
  );
  process.exit(1);
}
log(`ready: ${buildPkg} (inputs ${inputsHash})`);

if (stage) {
  rmSync(STAGE_DIR, { recursive: true, force: true });
  for (const variant of OPENMP_VARIANTS) {
    const { folder } = variantBuild(localBuildsDir, variant);
    const from = join(localBuildsDir, folder);
    const to = join(STAGE_DIR, folder);
    mkdirSync(join(to, 'Release'), { recursive: true });
    copyFileSync(join(from, 'buildDone.status'), join(to, 'buildDone.status'));
    let bytes = 0;
    for (const f of readdirSync(join(from, 'Release'))) {
      if (!/\.node$|\.so(\.|$)|\.json$/.test(f)) continue;
      copyFileSync(join(from, 'Release', f), join(to, 'Release', f));
      bytes += readFileSync(join(to, 'Release', f)).length;
    }
    log(
      `staged ${variant.name} (${folder}, ${(bytes / 2 ** 20).toFixed(1)} MiB) for the image in ${STAGE_DIR}`,
    );
  }
}

process.stdout.write(
  process.argv.includes('--print-build-dir')
    ? `${localBuildsDir}\n`
    : `${join(buildPkg, 'dist', 'index.js')}\n`,
);
