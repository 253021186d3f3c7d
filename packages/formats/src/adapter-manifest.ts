import { z } from 'zod';

/** The `schema` field of every adapter manifest this schema describes. */
export const ADAPTER_MANIFEST_SCHEMA_ID = 'sarai.lora-manifest/v1';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();
const finite = z.number().refine(Number.isFinite, 'not finite');

/**
 * The signed manifest the LoRA trainer publishes next to each adapter (`<name>.manifest.json`): what a training
 * run produced and from what, everything needed to audit or reproduce it. The trainer writes it with
 * {@link serializeAdapterManifest} and signs those exact bytes; skills verify the signature, then parse it with
 * this schema (or {@link AdapterManifestIdentitySchema}) before trusting any field.
 */
export const AdapterManifestSchema = z.object({
  schema: z.literal(ADAPTER_MANIFEST_SCHEMA_ID),
  /** The adapter file (a bare name in the manifest's directory), its sha256 and size. */
  adapter: z.object({ file: z.string().min(1), sha256, bytes: count }),
  /** The frozen base model the adapter was trained on: it only fits a model with this sha256. */
  baseModel: z.object({ file: z.string().min(1), sha256, bytes: count, architecture: z.string() }),
  dataset: z.object({
    file: z.string().min(1),
    sha256,
    train: count,
    eval: count,
    evalHeldOut: z.boolean(),
    records: count,
    malformed: count,
    notImproved: count,
    duplicates: count,
    tokens: z.object({ train: count, eval: count, trainRows: count, evalRows: count, contextSize: count }),
  }),
  hyperParameters: z.object({
    rank: count,
    alpha: finite,
    targets: z.array(z.string()),
    learningRate: finite,
    learningRateMin: finite,
    weightDecay: finite,
    optimizer: z.enum(['adamw', 'sgd']),
    epochs: count,
    contextSize: count,
    threads: count,
    seed: z.number().int(),
    systemPrompt: z.string().nullable(),
    evalFraction: finite,
  }),
  losses: z.object({ evalBefore: finite, evalAfter: finite, trainPerEpoch: z.array(finite) }),
  throughput: z.object({ trainTokensPerSecond: finite, evalTokensPerSecond: finite }),
  trainableParameters: count,
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: finite,
  trainer: z.object({
    name: z.string(),
    version: z.string(),
    llamaVersion: z.string(),
    template: z.string(),
  }),
  /** Fingerprint of the key that signed the manifest. */
  signer: z.object({ fingerprint: z.string() }),
});

/** A parsed adapter manifest. */
export type AdapterManifest = z.infer<typeof AdapterManifestSchema>;

/**
 * The part of {@link AdapterManifestSchema} a serving skill relies on (schema id, adapter file/sha256/size, base
 * model sha256/architecture): derived from the one schema, so the two cannot disagree. Other fields are not checked.
 */
export const AdapterManifestIdentitySchema = AdapterManifestSchema.pick({
  schema: true,
  adapter: true,
  baseModel: true,
});

/** The identity fields of an adapter manifest. */
export type AdapterManifestIdentity = z.infer<typeof AdapterManifestIdentitySchema>;

/**
 * Canonical text of a manifest: validated, `JSON.stringify(manifest, null, 2)` in schema field order plus a
 * newline. This is what is signed and written.
 * @throws ZodError when `manifest` does not match the schema.
 */
export function serializeAdapterManifest(manifest: AdapterManifest): string {
  return JSON.stringify(AdapterManifestSchema.parse(manifest), null, 2) + '\n';
}
