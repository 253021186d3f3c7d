import { z } from 'zod';

/** Skill names: lower-case kebab-case, used in `skill-<name>` service names and `SARAI_SKILL_<NAME>_ADDR`. */
export const SKILL_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

const memory = z.string().regex(/^\d+[kmg]$/, 'memory is a docker size such as "512m" or "2g"');

/** Circuit-breaker settings of one skill in SkillPool (opossum). */
export const breakerSchema = z.strictObject({
  /** Time an open breaker waits before letting one probe call through (half-open). */
  resetTimeoutMs: z.number().int().positive().default(5_000),
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage: z.number().min(1).max(100).default(50),
  /** Calls needed in the window before the percentage counts. */
  volumeThreshold: z.number().int().min(0).default(2),
  rollingCountTimeoutMs: z.number().int().positive().default(10_000),
});

/** Container limits (compose `cpus`, `mem_limit` = `memswap_limit`, `pids_limit`). */
export const resourcesSchema = z.strictObject({
  cpus: z.number().positive().default(1),
  memory: memory.default('512m'),
  pids: z.number().int().positive().default(256),
});

/** Hardening on top of the defaults every skill gets (read-only rootfs, tmpfs /tmp, cap-drop ALL, no-new-privileges, UID 1000). */
export const hardeningSchema = z.strictObject({
  /** `none`: no network at all (compose `network_mode: none`, no published port); `bridge`: the skills network. */
  network: z.enum(['bridge', 'none']).default('bridge'),
  /** Size of the /tmp tmpfs. */
  tmpfsSize: memory.default('256m'),
});

/** Which gRPC contract a skill serves. */
export const contractSchema = z.strictObject({
  /** npm package holding the generated client (`@sarai/proto` for the core `skills.Skill`). */
  package: z.string().min(1),
  /** Fully-qualified service name, e.g. `skills.Skill` or `sarai.sandbox.v1.Sandbox`. */
  service: z.string().regex(/^[A-Za-z_][\w.]*$/, 'service is a fully-qualified proto service name'),
});

/** How the compose file runs the skill (beyond what is derived from the entry). */
export const composeSchema = z.strictObject({
  /** Comment lines written above the service (without `#`). */
  comment: z.array(z.string()).default([]),
  /** Extra environment of the container (compose interpolation allowed, e.g. `${SARAI_X:-default}`). */
  environment: z.record(z.string(), z.string()).default({}),
  volumes: z.array(z.string()).default([]),
  /** Default host address the container port is published on (`SARAI_<NAME>_PUBLISH` overrides it). */
  publish: z.string().optional(),
});

/** How `sarai --embedded` runs the skill as a local process (no Docker). */
export const embeddedSchema = z.strictObject({
  /**
   * Environment of the local process; placeholders: `{state}` (state dir), `{imageCache}`, `{draftModel}` (the
   * model the embedded draft skill serves), `{tmp}` (a private temporary directory).
   */
  env: z.record(z.string(), z.string()).default({}),
  startTimeoutMs: z.number().int().positive().default(60_000),
  /** Printed when the skill starts embedded, e.g. what is weaker than in the container. */
  notice: z.string().optional(),
});

/** One skill of the registry (`packages/skill-registry/skills/<name>.json`). */
export const skillEntrySchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().regex(SKILL_NAME, 'name is lower-case kebab-case, e.g. "ocr" or "speech-to-text"'),
  description: z.string().default(''),
  /** `generate`: serves the core `skills.Skill` from @sarai/proto; `service`: its own versioned contract package. */
  kind: z.enum(['generate', 'service']),
  /** Roles the Omni-Loop looks skills up by (e.g. `draft`, `image`, `code-tests`). */
  roles: z.array(z.string().regex(SKILL_NAME)).default([]),
  /** Workspace package of the service (its `dist/main.js` is the entry point); absent for remote-only skills. */
  package: z.string().optional(),
  /** Image repository; the tag is the package version (`:latest` in compose). */
  image: z.string().optional(),
  /** Port the service listens on inside its container. */
  port: z.number().int().min(1).max(65535).default(50051),
  /** Where SkillPool reaches it by default (`SARAI_SKILL_<NAME>_ADDR` overrides); default `skill-<name>:<port>`. */
  address: z.string().optional(),
  /** Default deadline of one call, ms. */
  deadlineMs: z.number().int().positive().default(5_000),
  breaker: breakerSchema.default(breakerSchema.parse({})),
  resources: resourcesSchema.default(resourcesSchema.parse({})),
  hardening: hardeningSchema.default(hardeningSchema.parse({})),
  /** node_modules-relative directories of native addons the base image must load (ldd-checked). */
  nativeAddons: z.array(z.string()).default([]),
  /** Container environment (compose and the image's defaults). */
  env: z.record(z.string(), z.string()).default({}),
  contract: contractSchema,
  /** grpc.health.v1 service name SkillPool watches ("" = the whole server). */
  healthService: z.string().default(''),
  compose: composeSchema.default(composeSchema.parse({})),
  /** `false`: not started by `--embedded` / `loop --test --embedded`. */
  embedded: z.union([z.literal(false), embeddedSchema]).default(embeddedSchema.parse({})),
});

/** A validated registry entry, defaults applied. */
export type SkillEntry = z.output<typeof skillEntrySchema>;
/** What a JSON entry may contain (defaults optional). */
export type SkillEntryInput = z.input<typeof skillEntrySchema>;
export type BreakerSettings = z.output<typeof breakerSchema>;
export type SkillResources = z.output<typeof resourcesSchema>;
