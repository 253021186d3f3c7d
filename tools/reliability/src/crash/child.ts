#!/usr/bin/env node
// Crash child: `node dist/crash/child.js <writer> <dir> <setup.json> <seed>` writes until it is killed.
import { readFileSync } from 'node:fs';
import { loadWriter } from './writers.js';

const [name, dir, setupFile, seed] = process.argv.slice(2);
const writer = await loadWriter(name ?? '');
if (!writer || !dir || !setupFile) {
  process.stderr.write('usage: child.js <writer> <dir> <setup.json> <seed>\n');
  process.exit(2);
}
const setup = JSON.parse(readFileSync(setupFile, 'utf8')) as Record<string, string>;
writer.run(dir, setup, Number(seed ?? 0)).catch((e: unknown) => {
  process.stderr.write(`crash child ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
