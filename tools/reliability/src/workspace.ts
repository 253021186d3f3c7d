import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CrashCheckError } from './crash/errors.js';

/**
 * The root of the SARAi workspace this harness runs in (the nearest ancestor holding nx.json). Apps the harness
 * drives as a user would (the compose files of apps/deploy, `sarai`'s dist/main.js) are found from here, not
 * imported: their build targets are this project's task dependencies.
 */
export function workspaceRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'nx.json'))) return d;
  }
  throw new CrashCheckError(
    'workspace',
    'not inside the SARAi workspace (no nx.json above this file)',
    'RELIABILITY_USAGE',
  );
}
