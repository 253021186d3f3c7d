/**
 * Node command-line flags for the child: the permission model with read/write limited to `workDir` (no child
 * processes, workers, addons, WASI or inspector: none of those is granted), no code generation from strings in the
 * child's own realm, a heap cap, and no warnings on stderr (the code's stderr is the only stderr).
 *
 * Node 22.x/24.x: `--permission` is stable. Node 20.x: the same model is `--experimental-permission`.
 * A directory path grants everything below it on both (checked on 20.20 and 24.21).
 */
export function childNodeFlags(nodeMajor: number, workDir: string, heapMb: number): string[] {
  return [
    nodeMajor >= 22 ? '--permission' : '--experimental-permission',
    `--allow-fs-read=${workDir}`,
    `--allow-fs-write=${workDir}`,
    '--disallow-code-generation-from-strings',
    `--max-old-space-size=${heapMb}`,
    '--max-semi-space-size=4',
    '--stack-size=900',
    '--no-warnings',
  ];
}

/** Major version of a Node binary's version string (`v24.21.0` → 24). */
export function nodeMajorOf(version: string): number {
  const m = /^v?(\d+)\./.exec(version);
  return m ? Number(m[1]) : 0;
}
