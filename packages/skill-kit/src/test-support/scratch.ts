// A scratch copy of the workspace for end-to-end generator tests: its files as git sees them (timestamps kept),
// the projects' dist/ and out-tsc/ folders, its own git repository with the copy committed as the baseline, and a
// node_modules whose entries link to the real one except @sarai/*, which link to the copy's packages (as npm would).
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export interface ScratchWorkspace {
  readonly root: string;
  /** Environment for commands run in the copy (Nx offline, no daemon; the outer run's NX_/VITEST variables removed). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs a command in the copy; returns stdout, throws with stdout+stderr on failure. */
  run(cmd: string, args: string[], opts?: { timeoutMs?: number }): string;
  /** Adds node_modules/@sarai/<name> links for workspace packages that appeared in the copy (what `npm install` does). */
  linkWorkspacePackages(): string[];
  dispose(): void;
}

const WORKSPACE_DIRS = ['packages', 'tools', 'apps'];
// eslint-disable-next-line no-control-regex -- terminal colour codes in tool output
const ANSI = /\u001b\[[0-9;]*m/g;
/** Packages whose production dependencies every generated skill image stages. */
const RUNTIME_ROOTS = ['packages/proto', 'packages/skill-runtime'];
/** Production dependencies the skill and contract templates declare. */
const TEMPLATE_DEPENDENCIES = ['@grpc/grpc-js', 'zod', '@protobuf-ts/runtime', '@protobuf-ts/runtime-rpc'];

function dependenciesOf(pkgFile: string): string[] {
  if (!existsSync(pkgFile)) return [];
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
}

/** Hoisted (top-level) packages reachable from `names` through production dependencies; workspace ones excluded. */
function productionClosure(nodeModules: string, names: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = names.filter((n) => !n.startsWith('@sarai/'));
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (seen.has(name) || !existsSync(join(nodeModules, name, 'package.json'))) continue;
    seen.add(name);
    for (const dep of dependenciesOf(join(nodeModules, name, 'package.json'))) {
      if (!dep.startsWith('@sarai/')) queue.push(dep);
    }
  }
  return seen;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      k.startsWith('NX_') ||
      k.startsWith('VITEST') ||
      ['NODE_ENV', 'NODE_OPTIONS', 'FORCE_COLOR'].includes(k)
    )
      continue;
    env[k] = v;
  }
  return {
    ...env,
    FORCE_COLOR: '0',
    NO_COLOR: '1',
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
    NX_VERBOSE_LOGGING: 'false',
    NX_SKIP_NX_CACHE: 'true',
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
    GIT_AUTHOR_NAME: 'scratch',
    GIT_AUTHOR_EMAIL: 'scratch@localhost',
    GIT_COMMITTER_NAME: 'scratch',
    GIT_COMMITTER_EMAIL: 'scratch@localhost',
  };
}

export function createScratchWorkspace(source: string): ScratchWorkspace {
  const root = mkdtempSync(join(tmpdir(), 'sarai-scratch-'));
  const env = cleanEnv();
  const run = (cmd: string, args: string[], opts: { timeoutMs?: number } = {}): string => {
    const o: ExecFileSyncOptions = {
      cwd: root,
      env,
      encoding: 'utf8',
      stdio: 'pipe',
      maxBuffer: 256 * 1024 * 1024,
    };
    try {
      const out = execFileSync(cmd, args, { ...o, timeout: opts.timeoutMs ?? 600_000 }) as unknown as string;
      return out.replace(ANSI, '');
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `${cmd} ${args.join(' ')} failed in ${root}:\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`,
        {
          cause: e,
        },
      );
    }
  };

  // 1. files
  // the working tree as git sees it: tracked files and untracked ones that are not ignored
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: source,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = join(source, f);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(root, f)), { recursive: true });
    cpSync(from, join(root, f), { preserveTimestamps: true });
  }
  // 2. build and typecheck outputs (so the copy's builds and typechecks of unchanged projects are no-ops)
  for (const top of WORKSPACE_DIRS) {
    if (!existsSync(join(source, top))) continue;
    for (const p of readdirSync(join(source, top))) {
      for (const out of ['dist', 'out-tsc']) {
        const from = join(source, top, p, out);
        if (existsSync(from) && existsSync(join(root, top, p))) {
          cpSync(from, join(root, top, p, out), { recursive: true, preserveTimestamps: true });
        }
      }
    }
  }
  // 3. node_modules: links to the real entries, @sarai/* to the copy; the production closure of the skills' runtime
  //    dependencies is copied (image staging only takes packages that really live inside the workspace)
  const nm = join(root, 'node_modules');
  const realNm = join(source, 'node_modules');
  mkdirSync(join(nm, '@sarai'), { recursive: true });
  const closure = productionClosure(realNm, [
    ...RUNTIME_ROOTS.flatMap((dir) => dependenciesOf(join(root, dir, 'package.json'))),
    ...TEMPLATE_DEPENDENCIES,
  ]);
  const place = (name: string) => {
    const from = join(realNm, name);
    const to = join(nm, name);
    if (closure.has(name))
      cpSync(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    else symlinkSync(from, to);
  };
  for (const entry of readdirSync(realNm)) {
    if (entry === '@sarai') continue;
    if (entry.startsWith('@')) {
      mkdirSync(join(nm, entry), { recursive: true });
      for (const child of readdirSync(join(realNm, entry))) place(`${entry}/${child}`);
    } else {
      place(entry);
    }
  }
  const linkWorkspacePackages = (): string[] => {
    const added: string[] = [];
    for (const top of WORKSPACE_DIRS) {
      if (!existsSync(join(root, top))) continue;
      for (const p of readdirSync(join(root, top))) {
        const pkgFile = join(root, top, p, 'package.json');
        if (!existsSync(pkgFile)) continue;
        const name = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string }).name;
        if (!name?.startsWith('@sarai/')) continue;
        const link = join(nm, name);
        if (existsSync(link)) continue;
        symlinkSync(relative(dirname(link), join(root, top, p)), link);
        added.push(name);
      }
    }
    return added;
  };
  linkWorkspacePackages();
  // 4. its own git repository; the copy, TS references synced (a no-op on a clean checkout), is the baseline commit
  run(join(root, 'node_modules/.bin/nx'), ['sync']);
  run('git', ['init', '-q', '-b', 'main']);
  run('git', ['add', '-A']);
  run('git', ['commit', '-q', '-m', 'baseline']);

  return {
    root,
    env,
    run,
    linkWorkspacePackages,
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
}
