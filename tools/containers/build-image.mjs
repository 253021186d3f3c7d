#!/usr/bin/env node
// Stages a build context for a workspace package and builds its image FROM the local base image.
//   node tools/containers/build-image.mjs --package @sarai/<name> [--tag T] [--base IMG] [--keep-context] [--context-dir D]
//   node tools/containers/build-image.mjs --dir path/to/package ...      (a package outside the workspaces)
//   node tools/containers/build-image.mjs --package @sarai/<name> --stage-only --context-dir D   (no docker)
// The package needs a Dockerfile (ARG BASE_IMAGE=sarai/base:node24, FROM ${BASE_IMAGE}, no RUN) and a built dist/.
import { parseArgs } from 'node:util';
import { buildImage } from './src/build-image.mjs';
import { stageContext } from './src/stage-context.mjs';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    dir: { type: 'string' },
    tag: { type: 'string' },
    base: { type: 'string' },
    'context-dir': { type: 'string' },
    'keep-context': { type: 'boolean', default: false },
    'stage-only': { type: 'boolean', default: false },
  },
});
const log = (/** @type {string} */ line) => console.error(`build-image: ${line}`);
try {
  if (!values.package && !values.dir)
    throw new Error('usage: build-image.mjs --package @sarai/<name> [--tag T] [--base IMG]');
  const target = { packageName: values.package, packageDir: values.dir, contextDir: values['context-dir'] };
  if (values['stage-only']) {
    const { contextDir, plan, files, bytes } = await stageContext(target);
    log(
      `staged ${plan.name}: ${plan.packages.length} packages, ${files} files, ${(bytes / 1e6).toFixed(1)} MB`,
    );
    console.log(JSON.stringify({ contextDir, dockerfile: plan.dockerfile, tag: plan.tag, files, bytes }));
  } else {
    const started = performance.now();
    const result = await buildImage({
      ...target,
      tag: values.tag,
      baseImage: values.base,
      keepContext: values['keep-context'] || values['context-dir'] !== undefined,
      stream: true,
      log,
    });
    console.log(
      JSON.stringify({
        image: result.image,
        id: result.id,
        sizeBytes: result.sizeBytes,
        baseImage: result.baseImage,
        contextBytes: result.contextBytes,
        packages: result.plan.packages.length,
        excluded: result.plan.excluded.length,
        seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      }),
    );
  }
} catch (error) {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
