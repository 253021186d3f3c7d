// Entry point Nx loads for `nx g @sarai/skill-kit:skill`. The generator is TypeScript: on a fresh clone (or after
// its sources changed) it is built first with `nx run @sarai/skill-kit:build`, so the command works right after
// `npm ci`. A published copy ships its dist and never builds.
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const built = path.join(__dirname, 'dist', 'generators', 'skill', 'generator.js');
const sources = path.join(__dirname, 'src');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!existsSync(built)) return true;
  return existsSync(sources) && newestMtime(sources) > statSync(built).mtimeMs;
}

module.exports = async function skill(tree, options) {
  if (needsBuild()) {
    process.stderr.write('@sarai/skill-kit: building the generator first (nx run @sarai/skill-kit:build)\n');
    execFileSync(
      process.execPath,
      [require.resolve('nx/bin/nx.js'), 'run', '@sarai/skill-kit:build', '--outputStyle=static'],
      {
        cwd: tree.root,
        stdio: ['ignore', 2, 2],
        env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' },
      },
    );
  }
  const { skillGenerator } = await import(pathToFileURL(built).href);
  return skillGenerator(tree, options);
};
