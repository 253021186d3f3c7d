#!/usr/bin/env node
// Regenerates src/gen from proto/ with buf + protobuf-ts (no protoc download), then makes the
// output valid for `module: nodenext` (relative imports need an explicit `.js` extension).
// `--check` regenerates into a temporary directory and fails when src/gen is stale.
// Runs on the contract package in the working directory (Nx runs it with cwd = the project root): @sarai/proto and
// every per-skill contract package (`packages/<skill>-contract`, its own buf.yaml) use the same plugin options,
// those of packages/proto/buf.gen.yaml, unless the package has its own buf.gen.yaml.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoPkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const workspace = resolve(protoPkg, '../..');
const root = process.cwd();
const check = process.argv.includes('--check');
const bufBin = join(workspace, 'node_modules/.bin/buf');
const pkgName = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name;
const genConfig = existsSync(join(root, 'buf.gen.yaml'))
  ? join(root, 'buf.gen.yaml')
  : join(protoPkg, 'buf.gen.yaml');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function fixImports(dir) {
  for (const file of walk(dir).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(file, 'utf8');
    const out = src.replace(/(from\s+["'])(\.{1,2}\/[^"']+?)(["'])/g, (m, a, spec, b) =>
      spec.endsWith('.js') ? m : `${a}${spec}.js${b}`,
    );
    writeFileSync(file, out);
  }
}

const work = mkdtempSync(join(tmpdir(), 'sarai-proto-'));
try {
  // buf resolves `out` relative to the working directory: generate into a scratch copy.
  cpSync(join(root, 'proto'), join(work, 'proto'), { recursive: true });
  const genYaml = readFileSync(genConfig, 'utf8').replace(
    '../../node_modules/@protobuf-ts/plugin/bin/protoc-gen-ts',
    join(workspace, 'node_modules/@protobuf-ts/plugin/bin/protoc-gen-ts'),
  );
  writeFileSync(join(work, 'buf.gen.yaml'), genYaml);
  cpSync(join(root, 'buf.yaml'), join(work, 'buf.yaml'));
  execFileSync(bufBin, ['generate'], { cwd: work, stdio: 'inherit' });
  const gen = join(work, 'src/gen');
  fixImports(gen);

  const target = join(root, 'src/gen');
  if (check) {
    const list = (d) =>
      walk(d)
        .map((f) => relative(d, f))
        .sort();
    const stale = [];
    let current = [];
    try {
      current = list(target);
    } catch {
      current = [];
    }
    const fresh = list(gen);
    const all = new Set([...fresh, ...current]);
    for (const f of all) {
      let a = null;
      let b = null;
      try {
        a = readFileSync(join(gen, f), 'utf8');
      } catch {
        /* missing in fresh output */
      }
      try {
        b = readFileSync(join(target, f), 'utf8');
      } catch {
        /* missing in committed output */
      }
      if (a !== b) stale.push(f);
    }
    if (stale.length) {
      console.error(
        `src/gen is stale (${stale.join(', ')}): run \`npx nx run ${pkgName}:generate\` and commit.`,
      );
      process.exit(1);
    }
    console.log(`src/gen is up to date (${fresh.length} files).`);
  } else {
    rmSync(target, { recursive: true, force: true });
    cpSync(gen, target, { recursive: true });
    console.log(`generated ${walk(target).length} files into src/gen`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
