#!/usr/bin/env node
// Builds the shell-less Prometheus image from Debian's `prometheus` package (no registry):
//   node tools/containers/prometheus-image.mjs [--tag sarai/prometheus:X] [--force]
// Reuses sarai/prometheus:latest when it was built from the package version apt offers now.
import { parseArgs } from 'node:util';
import { buildPrometheusImage } from './src/prometheus-image.mjs';

const { values } = parseArgs({
  options: { tag: { type: 'string' }, force: { type: 'boolean', default: false } },
});
try {
  const r = await buildPrometheusImage({
    ...(values.tag ? { tag: values.tag } : {}),
    force: values.force,
    log: (line) => console.error(`prometheus-image: ${line}`),
  });
  console.log(r.image);
} catch (e) {
  console.error(`prometheus-image: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
