#!/usr/bin/env node
// Breaking-change check of a contract package with buf (no protoc), run with cwd = the package (Nx does that):
//  1. @sarai/proto only: against the seed's skills.proto (test/seed): existing seed clients must keep working;
//  2. against the package's last release: the newest git tag `<package name>@<version>` (nx release tags). A per-skill
//     contract package (`@sarai/<skill>-contract`) without a release yet is skipped with a message.
// Rules: WIRE_JSON (wire and JSON compatibility: no renumbered, retyped or removed fields, services or methods).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const workspace = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const root = process.cwd();
const buf = join(workspace, 'node_modules/.bin/buf');
const pkgName = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name;
const cfg = 'version: v2\nbreaking:\n  use:\n    - WIRE_JSON\n';
const git = (args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' });

/** Compares `currentDir` (a proto tree) with `againstDir` in a scratch module; exits 1 on a breaking change. */
function breakingAgainst(label, currentDir, againstDir) {
  const work = mkdtempSync(join(tmpdir(), 'sarai-breaking-'));
  try {
    cpSync(currentDir, join(work, 'current'), { recursive: true });
    cpSync(againstDir, join(work, 'against'), { recursive: true });
    writeFileSync(join(work, 'current/buf.yaml'), cfg);
    writeFileSync(join(work, 'against/buf.yaml'), cfg);
    try {
      execFileSync(buf, ['breaking', 'current', '--against', 'against'], { cwd: work, stdio: 'inherit' });
    } catch {
      console.error(
        `buf breaking (${pkgName}): the change above breaks existing clients of ${label}; add new field numbers, ` +
          'messages or methods instead, or a new versioned package (v2) for an incompatible change.',
      );
      process.exit(1);
    }
    console.log(`buf breaking (${pkgName}): no wire-breaking change against ${label}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const seed = join(root, 'test/seed');
if (existsSync(seed)) {
  // The seed lacks the grpc.health.v1 file; compare skills.proto only.
  const current = mkdtempSync(join(tmpdir(), 'sarai-current-'));
  try {
    cpSync(join(root, 'proto/skills.proto'), join(current, 'skills.proto'));
    breakingAgainst('the seed contract (test/seed/skills.proto)', current, seed);
  } finally {
    rmSync(current, { recursive: true, force: true });
  }
}

let tag = '';
try {
  tag = git(['tag', '--list', `${pkgName}@*`, '--sort=-v:refname'])
    .split('\n')[0]
    .trim();
} catch {
  tag = '';
}
if (!tag) {
  console.log(
    `buf breaking (${pkgName}): no released ${pkgName}@<version> tag yet, nothing to compare against` +
      (existsSync(seed) ? ' but the seed' : ' (skipped)'),
  );
} else {
  // The proto tree of the package as released, file by file from git.
  const top = git(['rev-parse', '--show-toplevel']).trim();
  const protoDir = relative(top, join(root, 'proto'));
  const against = mkdtempSync(join(tmpdir(), 'sarai-release-'));
  try {
    for (const file of git(['ls-tree', '--full-tree', '-r', '--name-only', tag, '--', protoDir])
      .split('\n')
      .filter(Boolean)) {
      const out = join(against, relative(protoDir, file));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, execFileSync('git', ['show', `${tag}:${file}`], { cwd: root }));
    }
    breakingAgainst(`release ${tag}`, join(root, 'proto'), against);
  } finally {
    rmSync(against, { recursive: true, force: true });
  }
}
