import { basename, dirname, isAbsolute, join } from 'node:path';
import { envKey } from './address.js';
import { RegistryError } from './errors.js';
import { SKILL_NAME } from './schema.js';

/** The compose variable that overrides where a skill's gRPC port is published: `SARAI_<NAME>_PUBLISH`. */
export function publishEnv(name: string): string {
  return `SARAI_${envKey(name)}_PUBLISH`;
}

/**
 * Host-side files of one local compose deployment, all below one root directory. The directories must exist and
 * belong to UID 1000 (the containers' user) before `docker-compose up`; the API key file must be readable by it.
 */
export interface LocalComposeLayout {
  /** The host's state (signing key, audit and interaction logs): `<root>/state` → `SARAI_STATE_DIR`. */
  readonly stateDir: string;
  /** skill-image's cache, shared with the host: `<root>/cache` → `SARAI_IMAGE_CACHE`. */
  readonly imageCacheDir: string;
  /** Holds nothing but skill-sandbox's unix socket `sandbox.sock`: `<root>/sandbox` → `SARAI_SANDBOX_SOCKET_DIR`. */
  readonly sandboxSocketDir: string;
  /** First line = the host's API key: `<root>/api_key` → `SARAI_API_KEY_FILE`. */
  readonly apiKeyFile: string;
  /** The directories above that the caller creates and hands to UID 1000, in this order: state, cache, sandbox. */
  readonly ownedDirs: readonly string[];
}

/** Options of {@link localComposeEnv}. Every path is absolute (compose would resolve a relative one against apps/deploy). */
export interface LocalComposeOptions {
  /** Root of the deployment's host-side files; see {@link LocalComposeLayout} for what goes where. */
  readonly root: string;
  /** The draft model (GGUF): its directory is mounted read-only at /models, its name is the draft's and fallback's model. */
  readonly modelPath: string;
  /** Host ports the services publish on `bindAddress`; a port is an integer in 1..65535. */
  readonly ports: {
    /** Per skill name (e.g. `draft`, `image`) → `SARAI_<NAME>_PUBLISH`; skills without network need none. */
    readonly skills: Readonly<Record<string, number>>;
    /** The host's OpenAI API → `SARAI_HOST_PUBLISH`. */
    readonly host: number;
    /** Prometheus → `SARAI_PROMETHEUS_PUBLISH`. */
    readonly prometheus: number;
  };
  /** Address every port is published on; default `127.0.0.1` (never reachable from other machines). */
  readonly bindAddress?: string;
}

/** Where {@link localComposeEnv} puts each host-side file below `root` (no I/O). */
export function localComposeLayout(root: string): LocalComposeLayout {
  const stateDir = join(root, 'state');
  const imageCacheDir = join(root, 'cache');
  const sandboxSocketDir = join(root, 'sandbox');
  return {
    stateDir,
    imageCacheDir,
    sandboxSocketDir,
    apiKeyFile: join(root, 'api_key'),
    ownedDirs: [stateDir, imageCacheDir, sandboxSocketDir],
  };
}

function checkPort(what: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new RegistryError(
      'REGISTRY_BAD_COMPOSE_ENV',
      `localComposeEnv: ports.${what} is ${String(port)}; give an integer port in 1..65535 (e.g. from freePort())`,
    );
  }
  return String(port);
}

function checkAbsolute(what: string, path: string): string {
  if (!isAbsolute(path)) {
    throw new RegistryError(
      'REGISTRY_BAD_COMPOSE_ENV',
      `localComposeEnv: ${what} "${path}" is relative (compose would resolve it against apps/deploy); give an absolute path`,
    );
  }
  return path;
}

/**
 * The `${…}` substitutions of apps/deploy/docker-compose.yml for a local deployment rooted at `o.root`: models
 * directory and draft model file, the {@link localComposeLayout} paths, and one loopback publish address per skill,
 * for the host and for Prometheus. Pure (no I/O): the caller creates the layout and passes the result to
 * `docker-compose` as its environment, adding its own variables on top (e.g. `SARAI_DRAFT_DEADLINE_MS`).
 *
 * @throws RegistryError `REGISTRY_BAD_COMPOSE_ENV` for a relative path, a port outside 1..65535 or a skill name that
 *   is not lower-case kebab-case.
 */
export function localComposeEnv(o: LocalComposeOptions): Record<string, string> {
  const root = checkAbsolute('root', o.root);
  const model = checkAbsolute('modelPath', o.modelPath);
  const bind = o.bindAddress ?? '127.0.0.1';
  const publish = (what: string, port: number) => `${bind}:${checkPort(what, port)}`;
  const layout = localComposeLayout(root);
  const skills = Object.entries(o.ports.skills).map(([name, port]) => {
    if (!SKILL_NAME.test(name)) {
      throw new RegistryError(
        'REGISTRY_BAD_COMPOSE_ENV',
        `localComposeEnv: ports.skills has "${name}"; skill names are lower-case kebab-case, e.g. "draft"`,
      );
    }
    return [publishEnv(name), publish(`skills.${name}`, port)] as const;
  });
  return {
    SARAI_MODELS_DIR: dirname(model),
    SARAI_DRAFT_MODEL_FILE: basename(model),
    SARAI_IMAGE_CACHE: layout.imageCacheDir,
    SARAI_STATE_DIR: layout.stateDir,
    SARAI_SANDBOX_SOCKET_DIR: layout.sandboxSocketDir,
    SARAI_API_KEY_FILE: layout.apiKeyFile,
    ...Object.fromEntries(skills),
    SARAI_HOST_PUBLISH: publish('host', o.ports.host),
    SARAI_PROMETHEUS_PUBLISH: publish('prometheus', o.ports.prometheus),
  };
}
