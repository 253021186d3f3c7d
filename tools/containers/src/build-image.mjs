import { readFile, rm } from 'node:fs/promises';
import { baseImageName, ensureBaseImage } from './base-image.mjs';
import { ContainersError } from './errors.mjs';
import { inspectImage, requireDocker, run } from './exec.mjs';
import { stageContext } from './stage-context.mjs';

/**
 * Checks a Dockerfile against what works without a registry and without a shell in the base image:
 * no `# syntax=` line (BuildKit would pull its frontend), no RUN, no ADD of URLs, an `ARG BASE_IMAGE=` default.
 * @param {string} text
 * @returns {{ problems: string[], fromImages: string[] }} literal FROM images (not ${BASE_IMAGE}, not stages)
 */
export function checkDockerfile(text) {
  /** @type {string[]} */
  const problems = [];
  /** @type {string[]} */
  const fromImages = [];
  /** @type {Set<string>} */
  const stages = new Set();
  // Join continuation lines so an instruction is one logical line.
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (/^\s*#\s*syntax\s*=/i.test(line))
      problems.push(`${where}: "# syntax=" makes BuildKit pull a frontend image`);
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m || line.trim().startsWith('#')) return;
    const instruction = (m[1] ?? '').toUpperCase();
    const args = (m[2] ?? '').trim();
    if (instruction === 'RUN') problems.push(`${where}: RUN needs a shell, and the base image has none`);
    if (instruction === 'ADD' && /(^|\s)(https?|git):\/\//i.test(args))
      problems.push(`${where}: ADD of a URL needs the network`);
    if ((instruction === 'CMD' || instruction === 'ENTRYPOINT') && !args.startsWith('[')) {
      problems.push(`${where}: shell-form ${instruction} needs /bin/sh; use the exec form ["..."]`);
    }
    if (instruction === 'HEALTHCHECK' && /\bCMD\s+(?!\[)/i.test(args)) {
      problems.push(
        `${where}: shell-form HEALTHCHECK CMD needs /bin/sh; use CMD ["/usr/local/bin/node", "..."]`,
      );
    }
    if (instruction === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const image = parts[0] ?? '';
      if (parts[1]?.toUpperCase() === 'AS' && parts[2]) stages.add(parts[2].toLowerCase());
      if (
        !/^\$\{?BASE_IMAGE\}?$/.test(image) &&
        !stages.has(image.toLowerCase()) &&
        image.toLowerCase() !== 'scratch'
      ) {
        fromImages.push(image);
      }
    }
  });
  if (!lines.some((l) => /^\s*ARG\s+BASE_IMAGE=\S+/i.test(l))) {
    problems.push('no `ARG BASE_IMAGE=<default>` (keep the base swappable: FROM ${BASE_IMAGE})');
  }
  return { problems, fromImages };
}

/**
 * `repo:latest` for a versioned tag like `repo:1.2.3`; undefined when the tag already is an alias (`:dev`, `:latest`).
 * @param {string} tag
 * @returns {string | undefined}
 */
export function latestAlias(tag) {
  const m = /^(.+):(\d+\.\d+\.\d+[^:/]*)$/.exec(tag);
  return m ? `${m[1]}:latest` : undefined;
}

/**
 * Stages the build context of a workspace package and runs `docker build` (classic builder: nothing is pulled).
 * @param {{ packageName?: string, packageDir?: string, workspaceRoot?: string, tag?: string, baseImage?: string,
 *   contextDir?: string, keepContext?: boolean, stream?: boolean, log?: (line: string) => void }} options
 * @returns {Promise<{ image: string, id: string, sizeBytes: number, baseImage: string, contextDir?: string,
 *   contextBytes: number, contextFiles: number, plan: import('./stage-context.mjs').ContextPlan }>}
 */
export async function buildImage(options) {
  const log = options.log ?? (() => undefined);
  await requireDocker();
  const staged = await stageContext(options);
  const { plan, contextDir } = staged;
  try {
    const { problems, fromImages } = checkDockerfile(await readFile(plan.dockerfile, 'utf8'));
    if (problems.length > 0) {
      throw new ContainersError(
        'CONTAINERS_DOCKERFILE_INVALID',
        `${plan.dockerfile}:\n- ${problems.join('\n- ')}`,
      );
    }
    const baseImage = options.baseImage ?? baseImageName();
    if (baseImage === baseImageName()) {
      await ensureBaseImage({ image: baseImage, workspaceRoot: plan.workspaceRoot, log });
    }
    for (const image of [baseImage, ...fromImages]) {
      if (!(await inspectImage(image))) {
        throw new ContainersError(
          'CONTAINERS_DOCKERFILE_INVALID',
          `image ${image} is not available locally and nothing can be pulled`,
        );
      }
    }
    const tag = options.tag ?? plan.tag;
    const alias = latestAlias(tag);
    log(
      `building ${tag} from ${plan.name} (${plan.packages.length} packages, ${(staged.bytes / 1e6).toFixed(1)} MB context)`,
    );
    await run(
      'docker',
      [
        'build',
        '--build-arg',
        `BASE_IMAGE=${baseImage}`,
        '--label',
        `org.sarai.package=${plan.name}`,
        '--label',
        `org.sarai.version=${plan.version}`,
        '-f',
        plan.dockerfile,
        '-t',
        tag,
        // A stable local alias too (the compose file's default), so deployments need not track versions.
        ...(alias ? ['-t', alias] : []),
        contextDir,
      ],
      { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stream: options.stream },
    );
    const built = await inspectImage(tag);
    if (!built) throw new ContainersError('CONTAINERS_COMMAND_FAILED', `docker build did not produce ${tag}`);
    log(`built ${tag} ${built.Id.slice(7, 19)} (${(built.Size / 1e6).toFixed(1)} MB)`);
    return {
      image: tag,
      id: built.Id,
      sizeBytes: built.Size,
      baseImage,
      contextDir: options.keepContext ? contextDir : undefined,
      contextBytes: staged.bytes,
      contextFiles: staged.files,
      plan,
    };
  } finally {
    if (!options.keepContext) await rm(contextDir, { recursive: true, force: true });
  }
}
