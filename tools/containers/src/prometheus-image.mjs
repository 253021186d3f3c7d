import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContainersError } from './errors.mjs';
import { inspectImage, requireDocker, run } from './exec.mjs';

/**
 * Debian packages the Prometheus image is assembled from: the server (one static-ish Go binary linking only libc)
 * and the JavaScript/font packages its classic web UI links to. Nothing else of Debian ends up in the image.
 */
export const PROMETHEUS_PACKAGES = Object.freeze([
  'prometheus',
  'fonts-glyphicons-halflings',
  'libjs-bootstrap4',
  'libjs-d3',
  'libjs-eonasdan-bootstrap-datetimepicker',
  'libjs-jquery',
  'libjs-jquery-hotkeys',
  'libjs-moment',
  'libjs-moment-timezone',
  'libjs-mustache',
  'libjs-popper.js',
  'libjs-rickshaw',
]);

export const PROMETHEUS_IMAGE_REPO = 'sarai/prometheus';

/** Bumped when the image layout changes, so an image built by an older version of this script is rebuilt. */
const LAYOUT_VERSION = '1';

/** Where things are inside the image. */
export const PROMETHEUS_PATHS = Object.freeze({
  binary: '/bin/prometheus',
  promtool: '/bin/promtool',
  config: '/etc/prometheus/prometheus.yml',
  data: '/prometheus',
  web: '/usr/share/prometheus/web',
  consoleLibraries: '/usr/share/prometheus/console_libraries',
  consoles: '/etc/prometheus/consoles',
});

/** The command line the image runs with (compose may replace it, e.g. to add --web.enable-lifecycle). */
export const PROMETHEUS_CMD = Object.freeze([
  `--config.file=${PROMETHEUS_PATHS.config}`,
  `--storage.tsdb.path=${PROMETHEUS_PATHS.data}`,
  `--web.console.libraries=${PROMETHEUS_PATHS.consoleLibraries}`,
  `--web.console.templates=${PROMETHEUS_PATHS.consoles}`,
  '--web.listen-address=:9090',
]);

const DEFAULT_CONFIG = `# Default: Prometheus scrapes itself. SARAi's deployment mounts apps/deploy/prometheus over /etc/prometheus.
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
`;

/**
 * Downloads the Debian packages (apt-get download: no installation, no daemon) and unpacks them.
 * @param {string} dir
 * @param {(line: string) => void} log
 * @returns {Promise<{ root: string, version: string }>}
 */
async function unpackPackages(dir, log) {
  const debs = join(dir, 'debs');
  const root = join(dir, 'unpacked');
  await mkdir(debs, { recursive: true });
  log(`apt-get download ${PROMETHEUS_PACKAGES.join(' ')}`);
  await run('apt-get', ['download', '-q', ...PROMETHEUS_PACKAGES], { cwd: debs }).catch((e) => {
    throw new ContainersError(
      'CONTAINERS_COMMAND_FAILED',
      `cannot download Debian's prometheus packages (run apt-get update first; .ci/run does): ${e.message}`,
      { cause: e },
    );
  });
  let version = '';
  for (const f of (await readdir(debs)).filter((f) => f.endsWith('.deb'))) {
    await run('dpkg-deb', ['-x', join(debs, f), root]);
    if (f.startsWith('prometheus_')) {
      version = (await run('dpkg-deb', ['-f', join(debs, f), 'Version'])).stdout.trim();
    }
  }
  if (!version)
    throw new ContainersError('CONTAINERS_COMMAND_FAILED', 'the prometheus package was not downloaded');
  return { root, version };
}

/**
 * The shared libraries a binary loads, as absolute paths on this (Debian) machine, from `ldd`.
 * @param {string} binary
 * @returns {Promise<string[]>}
 */
export async function linkedLibraries(binary) {
  const { stdout } = await run('ldd', [binary]);
  return stdout
    .split('\n')
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l.trim())?.[1])
    .filter((p) => p !== undefined);
}

/**
 * Assembles the image's root file system: the binaries, the libraries they link (libc and the loader), the classic
 * UI assets with their symlinks resolved (minus moment-timezone's 200 MB of unused zone data), Debian's console
 * libraries, a default config, and an empty data directory. No shell, no package manager.
 * @param {string} unpacked
 * @param {string} rootfs
 */
export async function assemblePrometheusRootfs(unpacked, rootfs) {
  const put = async (/** @type {string} */ from, /** @type {string} */ to) => {
    await mkdir(dirname(join(rootfs, to)), { recursive: true });
    await cp(from, join(rootfs, to), { recursive: true, dereference: true });
  };
  for (const [bin, to] of [
    ['usr/bin/prometheus', PROMETHEUS_PATHS.binary],
    ['usr/bin/promtool', PROMETHEUS_PATHS.promtool],
  ]) {
    await put(join(unpacked, bin), to);
    for (const lib of await linkedLibraries(join(unpacked, bin))) {
      if (!existsSync(join(rootfs, lib))) await put(lib, lib);
    }
  }
  await put(join(unpacked, 'usr/share/prometheus/web'), PROMETHEUS_PATHS.web);
  await rm(join(rootfs, PROMETHEUS_PATHS.web, 'static/moment-timezone/data'), {
    recursive: true,
    force: true,
  });
  await put(
    join(unpacked, 'usr/share/doc/prometheus/examples/console_libraries'),
    PROMETHEUS_PATHS.consoleLibraries,
  );
  await put(join(unpacked, 'usr/share/doc/prometheus/examples/consoles'), '/usr/share/prometheus/consoles');
  await mkdir(join(rootfs, PROMETHEUS_PATHS.consoles), { recursive: true });
  await writeFile(join(rootfs, PROMETHEUS_PATHS.config), DEFAULT_CONFIG);
  await mkdir(join(rootfs, PROMETHEUS_PATHS.data), { recursive: true });
  await chmod(join(rootfs, PROMETHEUS_PATHS.data), 0o1777);
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  await writeFile(join(rootfs, 'etc/group'), 'nogroup:x:65534:\n');
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
}

/**
 * The `prometheus` version apt would download (its candidate), or undefined without package lists.
 * @returns {Promise<string | undefined>}
 */
async function candidateVersion() {
  const { stdout } = await run('apt-cache', ['policy', 'prometheus']).catch(() => ({ stdout: '' }));
  const v = /Candidate:\s*(\S+)/.exec(stdout)?.[1];
  return v && v !== '(none)' ? v : undefined;
}

/**
 * Builds `sarai/prometheus:<upstream version>` (and `:latest`) from Debian's packages with `docker import` — no
 * registry, no Dockerfile, no shell in the image. Runs as nobody (65534); the TSDB goes to /prometheus (a tmpfs or
 * volume when the container's root file system is read-only).
 * Reuses `sarai/prometheus:latest` when it was built from the package version apt offers now (unless `force`).
 * @param {{ tag?: string, force?: boolean, log?: (line: string) => void }} [options]
 * @returns {Promise<{ image: string, id: string, sizeBytes: number, debianVersion: string, built: boolean }>}
 */
export async function buildPrometheusImage(options = {}) {
  const log = options.log ?? (() => undefined);
  await requireDocker();
  if (!options.force && !options.tag) {
    const candidate = await candidateVersion();
    const existing = await inspectImage(`${PROMETHEUS_IMAGE_REPO}:latest`);
    const labels = existing?.Config?.Labels ?? {};
    if (
      existing &&
      candidate &&
      labels['org.sarai.debian-version'] === candidate &&
      labels['org.sarai.layout'] === LAYOUT_VERSION
    ) {
      log(`reusing ${PROMETHEUS_IMAGE_REPO}:latest (Debian prometheus ${candidate})`);
      return {
        image: `${PROMETHEUS_IMAGE_REPO}:latest`,
        id: existing.Id,
        sizeBytes: existing.Size,
        debianVersion: candidate,
        built: false,
      };
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'sarai-prometheus-image-'));
  try {
    const { root, version } = await unpackPackages(dir, log);
    const upstream = version.replace(/^\d+:/, '').replace(/\+.*$/, '').replace(/-.*$/, '');
    const tag = options.tag ?? `${PROMETHEUS_IMAGE_REPO}:${upstream}`;
    const rootfs = join(dir, 'rootfs');
    await assemblePrometheusRootfs(root, rootfs);
    const tar = join(dir, 'rootfs.tar');
    await run('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
    const changes = [
      'USER 65534:65534',
      'WORKDIR /prometheus',
      'EXPOSE 9090',
      `ENTRYPOINT ["${PROMETHEUS_PATHS.binary}"]`,
      `CMD ${JSON.stringify(PROMETHEUS_CMD)}`,
      `LABEL org.sarai.package=prometheus org.sarai.debian-version=${version} org.sarai.layout=${LAYOUT_VERSION}`,
    ];
    log(`importing ${tag} (Debian prometheus ${version})`);
    await run('docker', ['import', ...changes.flatMap((c) => ['--change', c]), tar, tag]);
    const latest = `${PROMETHEUS_IMAGE_REPO}:latest`;
    if (tag !== latest) await run('docker', ['tag', tag, latest]);
    const built = await inspectImage(tag);
    if (!built)
      throw new ContainersError('CONTAINERS_COMMAND_FAILED', `docker import did not produce ${tag}`);
    log(`built ${tag} ${built.Id.slice(7, 19)} (${(built.Size / 1e6).toFixed(1)} MB)`);
    return { image: tag, id: built.Id, sizeBytes: built.Size, debianVersion: version, built: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
