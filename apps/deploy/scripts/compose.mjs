#!/usr/bin/env node
// Regenerates docker-compose.yml from compose.template.yml (header, hardening anchor, services that are not skills,
// networks) and the skill registry (one hardened service per skill). `--check` fails when the committed file differs.
import { loadRegistry, renderComposeFile } from '@sarai/skill-registry';
import { readFileSync, writeFileSync } from 'node:fs';

const template = readFileSync(new URL('../compose.template.yml', import.meta.url), 'utf8');
const target = new URL('../docker-compose.yml', import.meta.url);
const fresh = renderComposeFile(template, loadRegistry({ userFile: false }).skills);
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== fresh) {
    console.error(
      'apps/deploy/docker-compose.yml is stale: run `npx nx run @sarai/deploy:compose` and commit it.',
    );
    process.exit(1);
  }
  console.log('docker-compose.yml matches the registry.');
} else {
  writeFileSync(target, fresh);
  console.log('wrote apps/deploy/docker-compose.yml');
}
