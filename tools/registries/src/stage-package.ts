import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RegistriesError } from './errors.js';
import { run } from './exec.js';
import { publishManifest, type PackageManifest } from './publish-manifest.js';

export interface StagedPackage {
  name: string;
  version: string;
  private: boolean;
  /** The staged directory (what `npm publish` runs in). */
  dir: string;
  /** Files staged, relative to `dir` (package.json included). */
  files: string[];
}

/** Where `nx release publish` finds a project's staged package (nx.json `nx-release-publish.packageRoot`). */
export const publishDir = (workspaceRoot: string, projectRoot: string): string =>
  resolve(workspaceRoot, 'dist', 'publish', projectRoot);

/**
 * Stages a workspace package for publishing: the files `npm pack` would ship (its `files` list, README, LICENSE...)
 * plus a clean package.json ({@link publishManifest}). Written next to the target and renamed into place, so a
 * staged directory is always complete. The package must be built (its `main`/`types` must exist).
 */
export async function stagePackage(packageDir: string, outDir: string): Promise<StagedPackage> {
  const pkgFile = join(packageDir, 'package.json');
  let pkg: PackageManifest;
  try {
    pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as PackageManifest;
  } catch (e) {
    throw new RegistriesError('REGISTRIES_BAD_PACKAGE', `cannot read ${pkgFile}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!pkg.name || !pkg.version)
    throw new RegistriesError('REGISTRIES_BAD_PACKAGE', `${pkgFile} needs a name and a version`);
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: packageDir,
  });
  const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  const files = (packed?.files ?? []).map((f) => f.path).filter((p) => p !== 'package.json');
  for (const entry of [pkg['main'], pkg['types']])
    if (typeof entry === 'string' && !files.includes(entry.replace(/^\.\//, '')))
      throw new RegistriesError(
        'REGISTRIES_BAD_PACKAGE',
        `${pkg.name}: ${entry} is not in the package (build it first: nx run ${pkg.name}:build)`,
      );

  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const f of files) {
    await mkdir(dirname(join(tmp, f)), { recursive: true });
    await copyFile(join(packageDir, f), join(tmp, f));
  }
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'package.json'), `${JSON.stringify(publishManifest(pkg), null, 2)}\n`);
  await rm(outDir, { recursive: true, force: true });
  await mkdir(dirname(outDir), { recursive: true });
  await rename(tmp, outDir);
  return {
    name: pkg.name,
    version: pkg.version,
    private: pkg.private === true,
    dir: outDir,
    files: ['package.json', ...files],
  };
}
