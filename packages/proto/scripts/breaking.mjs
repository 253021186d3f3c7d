#!/usr/bin/env node
// Breaking-change check of the skills contract with buf (no protoc):
//  1. against the seed's skills.proto (test/seed): existing seed clients must keep working (WIRE_JSON rules);
//  2. against the last released contract: the newest git tag `@sarai/proto@<version>` (nx release tags), if any.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buf = resolve(root, '../../node_modules/.bin/buf');
const run = (args, cwd) => {
  try {
    execFileSync(buf, args, { cwd, stdio: 'inherit' });
  } catch {
    console.error('buf breaking: the change above breaks existing clients; use new field numbers instead.');
    process.exit(1);
  }
};

function breakingAgainst(label, againstDir) {
  // The seed lacks the grpc.health.v1 file; compare skills.proto only, in a scratch module.
  const work = mkdtempSync(join(tmpdir(), 'sarai-breaking-'));
  try {
    cpSync(join(root, 'proto/skills.proto'), join(work, 'current/skills.proto'));
    cpSync(againstDir, join(work, 'against'), { recursive: true });
    const cfg = 'version: v2\nbreaking:\n  use:\n    - WIRE_JSON\n';
    writeFileSync(join(work, 'current/buf.yaml'), cfg);
    writeFileSync(join(work, 'against/buf.yaml'), cfg);
    run(['breaking', 'current', '--against', 'against'], work);
    console.log(`buf breaking: no wire-breaking change against ${label}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

breakingAgainst('the seed contract (test/seed/skills.proto)', join(root, 'test/seed'));

let tag = '';
try {
  tag = execFileSync('git', ['tag', '--list', '@sarai/proto@*', '--sort=-v:refname'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')[0]
    .trim();
} catch {
  tag = '';
}
if (!tag) {
  console.log('buf breaking: no released @sarai/proto tag yet; the seed contract is the baseline');
} else {
  const work = mkdtempSync(join(tmpdir(), 'sarai-release-'));
  try {
    const src = execFileSync('git', ['show', `${tag}:packages/proto/proto/skills.proto`], { cwd: root });
    writeFileSync(join(work, 'skills.proto'), src);
    breakingAgainst(`release ${tag}`, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
