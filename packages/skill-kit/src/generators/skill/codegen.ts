import type { Tree } from '@nx/devkit';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkillKitError } from '../../errors.js';

/** packages/proto/scripts/generate.mjs: the one buf + protobuf-ts pipeline of every contract package. */
const GENERATE = fileURLToPath(new URL('../../../../proto/scripts/generate.mjs', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function copyOut(tree: Tree, dir: string, to: string): void {
  for (const child of tree.children(dir)) {
    const path = `${dir}/${child}`;
    if (tree.isFile(path)) {
      const out = join(to, child);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, tree.read(path) as Buffer);
    } else {
      copyOut(tree, path, join(to, child));
    }
  }
}

/**
 * Runs the contract pipeline on a contract package that exists only in the generator's tree: copies its package.json,
 * buf.yaml and proto/ to a scratch directory, runs generate.mjs there and writes `src/gen/**` back into the tree.
 */
export function generateContractCode(tree: Tree, contractRoot: string): string[] {
  const work = mkdtempSync(join(tmpdir(), 'skill-kit-codegen-'));
  try {
    for (const f of ['package.json', 'buf.yaml'])
      writeFileSync(join(work, f), tree.read(`${contractRoot}/${f}`) as Buffer);
    copyOut(tree, `${contractRoot}/proto`, join(work, 'proto'));
    try {
      execFileSync(process.execPath, [GENERATE], { cwd: work, stdio: 'pipe' });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new SkillKitError(
        'SKILL_KIT_CODEGEN',
        `generating ${contractRoot}/src/gen failed: ${err.stderr?.toString().trim() || err.message}`,
        { cause: e },
      );
    }
    const gen = join(work, 'src/gen');
    const written: string[] = [];
    for (const file of walk(gen)) {
      const path = `${contractRoot}/src/gen/${relative(gen, file).split('\\').join('/')}`;
      tree.write(path, readFileSync(file));
      written.push(path);
    }
    return written;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
