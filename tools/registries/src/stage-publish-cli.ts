#!/usr/bin/env node
// `nx run <project>:stage-publish` (inferred by tools/registries/nx-plugin.cjs):
//   node tools/registries/dist/stage-publish-cli.js <projectRoot>
// Writes dist/publish/<projectRoot>/, which nx.json makes the packageRoot of `nx release publish`.
import { resolve } from 'node:path';
import { publishDir, stagePackage } from './stage-package.js';

const [projectRoot] = process.argv.slice(2);
if (!projectRoot) {
  console.error('usage: stage-publish-cli.js <projectRoot>   (run from the workspace root)');
  process.exit(2);
}
try {
  const staged = await stagePackage(resolve(projectRoot), publishDir(process.cwd(), projectRoot));
  console.log(
    `stage-publish: ${staged.name}@${staged.version}${staged.private ? ' (private, not published)' : ''}: ${staged.files.length} files in ${staged.dir}`,
  );
} catch (e) {
  console.error(`stage-publish: ${(e as Error).message}`);
  process.exit(1);
}
