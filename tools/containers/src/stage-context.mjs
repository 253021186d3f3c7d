import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { defaultWorkspaceRoot } from './base-image.mjs';
import { ContainersError } from './errors.mjs';

/** The platform images run on; installed packages declaring other os/cpu/libc are left out. */
export const TARGET_PLATFORM = Object.freeze({ os: 'linux', cpu: 'x64', libc: 'glibc' });

/**
 * Packages never staged, whatever depends on them. node-llama-cpp lists every platform/GPU flavour as an optional
 * dependency and npm installs the linux ones (CUDA ~540 MB, Vulkan ~70 MB, even arm64); images are CPU-only x64.
 * @type {ReadonlyArray<{ pattern: RegExp, reason: string }>}
 */
export const EXCLUDED_PACKAGES = Object.freeze([
  {
    pattern: /^@node-llama-cpp\/(?!linux-x64$)/,
    reason: 'node-llama-cpp binaries other than the CPU linux-x64 ones',
  },
]);

/**
 * Files never loaded at run time, left out of every staged package. Paths are relative to the package root.
 * @type {ReadonlyArray<{ test: (rel: string, pkg: string) => boolean, reason: string }>}
 */
export const EXCLUDED_FILES = Object.freeze([
  {
    test: (rel, pkg) => pkg === 'node-llama-cpp' && rel === 'llama/gitRelease.bundle',
    reason: 'llama.cpp source bundle (34 MB, build-from-source only)',
  },
  {
    test: (rel, pkg) => pkg === 'node-llama-cpp' && rel === 'llama/llama.cpp',
    reason: 'llama.cpp sources (build-from-source only)',
  },
  { test: (rel) => /\.(md|markdown)$/i.test(rel), reason: 'documentation' },
  {
    test: (rel) => /\.d\.[cm]?ts(\.map)?$/.test(rel) || /\.[cm]?js\.map$/.test(rel),
    reason: 'type declarations and source maps',
  },
  { test: (rel) => rel.endsWith('.tsbuildinfo'), reason: 'TypeScript build state' },
]);

/** Top-level directories of a third-party package that are left out unless its entry points live there. */
const JUNK_DIRS = new Set([
  'test',
  'tests',
  '__tests__',
  'docs',
  'example',
  'examples',
  '.github',
  'coverage',
]);

/**
 * @typedef {{ name: string, version: string, source: string, dest: string, workspace: boolean }} StagedPackage
 * @typedef {{ name: string, from: string, reason: string }} ExcludedPackage
 * @typedef {{ from: string, to: string }} ImageOverlay a directory of the package (`from`, e.g. a local build
 *   git ignores) copied into `app/<to>` after the dependency closure is staged; skipped when `from` is absent
 * @typedef {{ tag?: string, extraFiles?: string[], overlays?: ImageOverlay[] }} ImageConfig
 * @typedef {{
 *   name: string, version: string, packageDir: string, workspaceRoot: string, dockerfile: string,
 *   tag: string, extraFiles: string[], overlays: ImageOverlay[], packages: StagedPackage[],
 *   excluded: ExcludedPackage[]
 * }} ContextPlan
 * @typedef {{ name?: string, version?: string, main?: unknown, exports?: unknown, bin?: unknown, files?: string[],
 *   os?: string[], cpu?: string[], libc?: string[],
 *   dependencies?: Record<string, string>, optionalDependencies?: Record<string, string>,
 *   peerDependencies?: Record<string, string>, peerDependenciesMeta?: Record<string, { optional?: boolean }>,
 *   workspaces?: string[], sarai?: { image?: ImageConfig } }} PackageJson
 */

/** @param {string} dir @returns {Promise<PackageJson>} */
async function readPackageJson(dir) {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
}

/** @param {string} parent @param {string} child */
function isInside(parent, child) {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * The directory of workspace package `name` (via its node_modules link, else by scanning the workspaces globs).
 * @param {string} workspaceRoot
 * @param {string} name
 */
export async function resolveWorkspacePackage(workspaceRoot, name) {
  const link = join(workspaceRoot, 'node_modules', name);
  if (existsSync(join(link, 'package.json'))) {
    const dir = await realpath(link);
    if (!dir.split(sep).includes('node_modules')) return dir;
  }
  const root = await readPackageJson(workspaceRoot);
  const globs = Array.isArray(root.workspaces) ? root.workspaces : [];
  for (const glob of globs) {
    if (!glob.endsWith('/*')) continue;
    const base = join(workspaceRoot, glob.slice(0, -2));
    for (const entry of await readdir(base).catch(() => /** @type {string[]} */ ([]))) {
      const dir = join(base, entry);
      if (existsSync(join(dir, 'package.json')) && (await readPackageJson(dir)).name === name) return dir;
    }
  }
  throw new ContainersError(
    'CONTAINERS_PACKAGE_NOT_FOUND',
    `no workspace package named ${name} under ${workspaceRoot}`,
  );
}

/**
 * Node's lookup of `dep` from `fromDir`: `<ancestor>/node_modules/<dep>` for each ancestor up to the workspace root
 * (a directory outside the workspace, e.g. a fixture in /tmp, falls back to the root's node_modules).
 * @param {string} fromDir real path of the requiring package
 * @param {string} dep
 * @param {string} workspaceRoot
 * @returns {Promise<string | undefined>} real path of the dependency's directory
 */
export async function resolveDependency(fromDir, dep, workspaceRoot) {
  const candidates = [];
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') candidates.push(join(dir, 'node_modules', dep));
    if (dir === workspaceRoot || dirname(dir) === dir) break;
  }
  if (!isInside(workspaceRoot, fromDir) && fromDir !== workspaceRoot)
    candidates.push(join(workspaceRoot, 'node_modules', dep));
  for (const candidate of candidates) {
    if (existsSync(join(candidate, 'package.json'))) return realpath(candidate);
  }
  return undefined;
}

/** @param {PackageJson} pkg @returns {string | undefined} why it cannot run on TARGET_PLATFORM */
function platformMismatch(pkg) {
  /** @type {Array<[keyof typeof TARGET_PLATFORM, string[] | undefined]>} */
  const fields = [
    ['os', pkg.os],
    ['cpu', pkg.cpu],
    ['libc', pkg.libc],
  ];
  for (const [field, values] of fields) {
    if (!Array.isArray(values) || values.length === 0) continue;
    const target = TARGET_PLATFORM[field];
    const allowed = values.filter((v) => !v.startsWith('!'));
    if (values.includes(`!${target}`) || (allowed.length > 0 && !allowed.includes(target))) {
      return `${field} ${JSON.stringify(values)} excludes ${target}`;
    }
  }
  return undefined;
}

/**
 * Works out the production dependency closure of a package and where each piece goes in the build context.
 * Dependencies, installed optionalDependencies and non-optional peers are followed recursively from the
 * package's real location; workspace packages (`@sarai/*`) are staged as package.json + their `files`
 * (default `dist`) and followed too.
 * @param {{ packageName?: string, packageDir?: string, workspaceRoot?: string }} options
 * @returns {Promise<ContextPlan>}
 */
export async function planContext(options) {
  const workspaceRoot = await realpath(options.workspaceRoot ?? defaultWorkspaceRoot());
  if (!options.packageDir && !options.packageName) {
    throw new ContainersError('CONTAINERS_BAD_ARGS', 'planContext needs packageName or packageDir');
  }
  const packageDir = await realpath(
    options.packageDir ??
      (await resolveWorkspacePackage(workspaceRoot, /** @type {string} */ (options.packageName))),
  ).catch(() => '');
  if (!packageDir || !existsSync(join(packageDir, 'package.json'))) {
    throw new ContainersError('CONTAINERS_PACKAGE_NOT_FOUND', `no package.json in ${options.packageDir}`);
  }
  const main = await readPackageJson(packageDir);
  const name = main.name ?? basename(packageDir);
  const image = main.sarai?.image ?? {};
  const dockerfile = join(packageDir, 'Dockerfile');
  if (!existsSync(dockerfile))
    throw new ContainersError('CONTAINERS_DOCKERFILE_INVALID', `${name} has no Dockerfile at ${dockerfile}`);

  /** @type {Map<string, StagedPackage>} real dir → staged package */
  const staged = new Map();
  /** @type {Map<string, string>} dest → real dir (conflict detection) */
  const dests = new Map();
  /** @type {ExcludedPackage[]} */
  const excluded = [];
  /** @type {StagedPackage[]} workspace packages, for mapping their nested node_modules */
  const workspaces = [];

  /** @param {string} dir @param {string} pkgName @param {boolean} workspace */
  const destOf = (dir, pkgName, workspace) => {
    if (workspace) return join('app', 'node_modules', pkgName);
    if (isInside(packageDir, dir)) return join('app', relative(packageDir, dir));
    const owner = workspaces.find((w) => isInside(w.source, dir));
    if (owner) return join(owner.dest, relative(owner.source, dir));
    if (isInside(workspaceRoot, dir)) return join('app', relative(workspaceRoot, dir));
    throw new ContainersError(
      'CONTAINERS_STAGING_CONFLICT',
      `${pkgName} resolved outside the workspace: ${dir}`,
    );
  };

  /** @type {Array<{ dir: string, pkg: PackageJson }>} */
  const queue = [{ dir: packageDir, pkg: main }];
  while (queue.length > 0) {
    const { dir: from, pkg } = /** @type {{ dir: string, pkg: PackageJson }} */ (queue.shift());
    /** @type {Map<string, boolean>} dep → optional */
    const deps = new Map();
    for (const dep of Object.keys(pkg.dependencies ?? {})) deps.set(dep, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) deps.set(dep, true);
    for (const dep of Object.keys(pkg.peerDependencies ?? {})) {
      if (!pkg.peerDependenciesMeta?.[dep]?.optional && !deps.has(dep)) deps.set(dep, true);
    }
    for (const [dep, optional] of deps) {
      const rule = EXCLUDED_PACKAGES.find((r) => r.pattern.test(dep));
      if (rule) {
        excluded.push({ name: dep, from: pkg.name ?? from, reason: rule.reason });
        continue;
      }
      const dir = await resolveDependency(from, dep, workspaceRoot);
      if (!dir) {
        if (optional) continue; // optional and not installed for this platform
        throw new ContainersError(
          'CONTAINERS_DEP_NOT_INSTALLED',
          `${dep} (a dependency of ${pkg.name ?? from}) is not installed; run npm install at the workspace root`,
        );
      }
      if (staged.has(dir) || dir === packageDir) continue;
      const depPkg = await readPackageJson(dir);
      const mismatch = platformMismatch(depPkg);
      if (mismatch) {
        excluded.push({ name: dep, from: pkg.name ?? from, reason: mismatch });
        continue;
      }
      const workspace =
        isInside(workspaceRoot, dir) && !relative(workspaceRoot, dir).split(sep).includes('node_modules');
      const entry = {
        name: depPkg.name ?? dep,
        version: depPkg.version ?? '0.0.0',
        source: dir,
        dest: destOf(dir, dep, workspace),
        workspace,
      };
      const clash = dests.get(entry.dest);
      if (clash) {
        throw new ContainersError(
          'CONTAINERS_STAGING_CONFLICT',
          `${clash} and ${dir} would both be staged at ${entry.dest}`,
        );
      }
      dests.set(entry.dest, dir);
      staged.set(dir, entry);
      if (workspace) workspaces.push(entry);
      queue.push({ dir, pkg: depPkg });
    }
  }

  const extraFiles = image.extraFiles ?? [];
  for (const file of extraFiles) {
    const abs = join(packageDir, file);
    if (!isInside(packageDir, abs) || !existsSync(abs)) {
      throw new ContainersError(
        'CONTAINERS_BAD_ARGS',
        `sarai.image.extraFiles entry "${file}" of ${name} is not a file inside the package`,
      );
    }
  }
  const overlays = image.overlays ?? [];
  for (const o of overlays) {
    const rel = join('app', o.to ?? '');
    if (!o.from || !o.to || !isInside(packageDir, join(packageDir, o.from)) || !isInside('app', rel)) {
      throw new ContainersError(
        'CONTAINERS_BAD_ARGS',
        `sarai.image.overlays entry ${JSON.stringify(o)} of ${name} needs "from" inside the package and "to" inside app/`,
      );
    }
  }
  const shortName = name.replace(/^@[^/]+\//, '');
  return {
    name,
    version: main.version ?? '0.0.0',
    packageDir,
    workspaceRoot,
    dockerfile,
    tag: image.tag ?? `sarai/${shortName}:${main.version ?? 'latest'}`,
    extraFiles,
    overlays,
    packages: [...staged.values()].sort((a, b) => a.dest.localeCompare(b.dest)),
    excluded,
  };
}

/**
 * Copies what a built workspace package ships: package.json + its `files` entries (default `dist`).
 * @param {string} source @param {string} dest @param {PackageJson} pkg @param {readonly string[]} extra
 */
async function copyBuiltPackage(source, dest, pkg, extra) {
  const entries = (pkg.files ?? ['dist']).filter((f) => !f.startsWith('!')).map((f) => f.replace(/\/+$/, ''));
  if (!existsSync(join(source, 'dist')) && entries.includes('dist')) {
    throw new ContainersError(
      'CONTAINERS_PACKAGE_NOT_BUILT',
      `${pkg.name} has no dist/; build it first (nx run ${pkg.name}:build)`,
    );
  }
  await mkdir(dest, { recursive: true });
  await cp(join(source, 'package.json'), join(dest, 'package.json'));
  for (const entry of [...entries, ...extra]) {
    const from = join(source, entry);
    if (!existsSync(from) || entry === 'package.json') continue;
    await cp(from, join(dest, entry), {
      recursive: true,
      filter: (src) =>
        !EXCLUDED_FILES.some((r) => r.test(relative(source, src).split(sep).join('/'), pkg.name ?? '')),
    });
  }
}

/** @param {StagedPackage} entry @param {string} destRoot @param {PackageJson} pkg */
async function copyThirdParty(entry, destRoot, pkg) {
  const entryPoints = JSON.stringify([pkg.main ?? null, pkg.exports ?? null, pkg.bin ?? null]);
  const usedDirs = new Set(
    [...JUNK_DIRS].filter((d) => new RegExp(`(^|[/"])(\\./)?${d.replace('.', '\\.')}/`).test(entryPoints)),
  );
  await cp(entry.source, destRoot, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => {
      const rel = relative(entry.source, src).split(sep).join('/');
      if (rel === '') return true;
      const top = rel.split('/')[0] ?? '';
      if (top === 'node_modules') return false; // nested deps are staged on their own, if in the closure
      if (rel === top && JUNK_DIRS.has(top) && !usedDirs.has(top)) return false;
      return !EXCLUDED_FILES.some((r) => r.test(rel, entry.name));
    },
  });
}

/** @param {string} dir @returns {Promise<{ files: number, bytes: number }>} */
async function measure(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files += 1;
    bytes += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return { files, bytes };
}

/**
 * Stages a Docker build context: `<ctx>/app/` = the package's package.json + `files`/dist + sarai.image.extraFiles,
 * `<ctx>/app/node_modules/` = only its production dependency closure (see planContext), then
 * sarai.image.overlays (present ones only) copied over it.
 * @param {{ packageName?: string, packageDir?: string, workspaceRoot?: string, contextDir?: string }} options
 * @returns {Promise<{ contextDir: string, plan: ContextPlan, files: number, bytes: number }>}
 */
export async function stageContext(options) {
  const plan = await planContext(options);
  const contextDir = options.contextDir ?? (await mkdtemp(join(tmpdir(), 'sarai-ctx-')));
  await rm(join(contextDir, 'app'), { recursive: true, force: true });
  const main = await readPackageJson(plan.packageDir);
  await copyBuiltPackage(plan.packageDir, join(contextDir, 'app'), main, plan.extraFiles);
  for (const entry of plan.packages) {
    const dest = join(contextDir, entry.dest);
    const pkg = await readPackageJson(entry.source);
    if (entry.workspace) await copyBuiltPackage(entry.source, dest, pkg, []);
    else await copyThirdParty(entry, dest, pkg);
  }
  for (const o of plan.overlays) {
    const from = join(plan.packageDir, o.from);
    if (existsSync(from)) await cp(from, join(contextDir, 'app', o.to), { recursive: true });
  }
  return { contextDir, plan, ...(await measure(join(contextDir, 'app'))) };
}
