#!/usr/bin/env node
// Builds (or reuses) the shell-less base image sarai/base:node24 from local files only (no registry).
//   node tools/containers/base-image.mjs [--image NAME:TAG] [--force]
// Env: SARAI_BASE_IMAGE (image name), SARAI_CONTAINERS_CACHE (where the Node tarball is cached).
import { parseArgs } from 'node:util';
import { baseImageName, ensureBaseImage } from './src/base-image.mjs';

const { values } = parseArgs({
  options: { image: { type: 'string' }, force: { type: 'boolean', default: false } },
});
const started = performance.now();
try {
  const result = await ensureBaseImage({
    image: values.image ?? baseImageName(),
    force: values.force,
    log: (line) => console.error(`base-image: ${line}`),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    JSON.stringify({
      image: result.image,
      id: result.id,
      built: result.built,
      sizeBytes: result.sizeBytes,
      inputsHash: result.inputsHash,
      seconds: Number(seconds),
    }),
  );
} catch (error) {
  console.error(`base-image: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
