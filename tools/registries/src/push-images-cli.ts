#!/usr/bin/env node
// Pushes the images of the given projects (built locally by their `image` target as sarai/<name>:<version>)
// to a registry, tagged by package version, and prints one JSON line per image with its digest:
//   node tools/registries/dist/push-images-cli.js --registry registry.example.com:5000 @sarai/skill-image ...
// CI passes the affected image projects: `nx show projects --affected --withTarget=image --base=$BASE`.
import { planContext } from '@sarai/containers';
import { parseArgs } from 'node:util';
import { pushImage } from './image-registry.js';

const { values, positionals } = parseArgs({
  options: { registry: { type: 'string' } },
  allowPositionals: true,
});
if (!values.registry) {
  console.error('usage: push-images-cli.js --registry HOST[:PORT][/PATH] <project>...');
  process.exit(2);
}
try {
  for (const project of positionals) {
    const plan = await planContext({ packageName: project });
    const pushed = await pushImage(plan.tag, values.registry);
    console.log(JSON.stringify({ project, version: plan.version, ...pushed }));
  }
} catch (e) {
  console.error(`push-images: ${(e as Error).message}`);
  process.exit(1);
}
