import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from './exec.js';

/** The workspace root (tools/registries/src|dist → ../../..). */
export const WORKSPACE_ROOT = resolve(import.meta.dirname, '..', '..', '..');

const nxEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  NX_SKIP_NX_CACHE: undefined,
});

const nx = (args: string[], cwd = WORKSPACE_ROOT) =>
  run(join(cwd, 'node_modules', '.bin', 'nx'), args, { cwd, env: nxEnv() });

export interface AffectedOptions {
  /** Changed files (relative to the workspace root): what `nx affected` would derive from git. */
  files?: string[];
  /** Git range instead of files: the merge base (e.g. `origin/main`) and the head (default the working tree). */
  base?: string;
  head?: string;
  /** Keep only projects that have this target (e.g. `image`). */
  withTarget?: string;
  cwd?: string;
}

/** Projects `nx affected` selects for a change, sorted (`nx show projects --affected --json`). */
export async function affectedProjects(opts: AffectedOptions): Promise<string[]> {
  const args = ['show', 'projects', '--affected', '--json'];
  if (opts.files) args.push(`--files=${opts.files.join(',')}`);
  if (opts.base) args.push(`--base=${opts.base}`);
  if (opts.head) args.push(`--head=${opts.head}`);
  if (opts.withTarget) args.push(`--withTarget=${opts.withTarget}`);
  const { stdout } = await nx(args, opts.cwd);
  return (JSON.parse(stdout) as string[]).sort();
}

/** Every project that has a target (`nx show projects --withTarget`), sorted. */
export async function projectsWithTarget(target: string, cwd = WORKSPACE_ROOT): Promise<string[]> {
  const { stdout } = await nx(['show', 'projects', '--json', `--withTarget=${target}`], cwd);
  return (JSON.parse(stdout) as string[]).sort();
}

/** Project dependency edges: project → the workspace projects it depends on (`nx graph --file`). */
export async function projectDependencies(cwd = WORKSPACE_ROOT): Promise<Map<string, string[]>> {
  const dir = await mkdtemp(join(tmpdir(), 'sarai-graph-'));
  try {
    const file = join(dir, 'graph.json');
    await nx(['graph', `--file=${file}`], cwd);
    const g = JSON.parse(await readFile(file, 'utf8')) as {
      graph: { nodes: Record<string, unknown>; dependencies: Record<string, Array<{ target: string }>> };
    };
    const out = new Map<string, string[]>();
    for (const name of Object.keys(g.graph.nodes))
      out.set(
        name,
        (g.graph.dependencies[name] ?? []).map((d) => d.target).filter((t) => t in g.graph.nodes),
      );
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A project plus every project that depends on it, directly or transitively (its consumers). */
export function withConsumers(deps: Map<string, string[]>, project: string): string[] {
  const out = new Set([project]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, ds] of deps)
      if (!out.has(p) && ds.some((d) => out.has(d))) {
        out.add(p);
        grew = true;
      }
  }
  return [...out].sort();
}
