/** Export conditions that only make sense inside this workspace (they point at TypeScript sources). */
export const WORKSPACE_CONDITIONS: readonly string[] = ['@sarai/source'];

/** Manifest fields that describe the workspace, not the published package. */
const WORKSPACE_FIELDS = ['nx', 'devDependencies', 'workspaces', 'allowScripts', 'overrides'] as const;

export type PackageManifest = Record<string, unknown> & {
  name?: string;
  version?: string;
  private?: boolean;
  exports?: unknown;
};

function stripConditions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripConditions);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    if (!WORKSPACE_CONDITIONS.includes(k)) out[k] = stripConditions(v);
  return out;
}

/**
 * The manifest to publish: the package's own package.json without workspace-only export conditions and without
 * workspace fields (`nx`, `devDependencies`...). Everything else (dependencies, bin, files, types) is kept as is.
 */
export function publishManifest(pkg: PackageManifest): PackageManifest {
  const out: PackageManifest = {};
  for (const [k, v] of Object.entries(pkg)) {
    if ((WORKSPACE_FIELDS as readonly string[]).includes(k)) continue;
    out[k] = k === 'exports' ? stripConditions(v) : v;
  }
  return out;
}

/** Paths (e.g. `exports["."]["@sarai/source"]`) where a workspace-only condition appears; empty when clean. */
export function workspaceConditionLeaks(pkg: PackageManifest): string[] {
  const leaks: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      const here = `${path}[${JSON.stringify(k)}]`;
      if (WORKSPACE_CONDITIONS.includes(k)) leaks.push(here);
      walk(v, here);
    }
  };
  walk(pkg.exports, 'exports');
  for (const f of WORKSPACE_FIELDS) if (f in pkg) leaks.push(f);
  return leaks;
}
