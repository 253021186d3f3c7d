import { z } from 'zod';

/** One checker's verdict on one iteration's answer. */
export const InteractionCheckSchema = z.object({
  checker: z.string(),
  pass: z.boolean(),
  /** What to fix (empty when passed). */
  feedback: z.string(),
});

/** One iteration of a loop run: the draft (iteration 0) or a reflection. */
export const InteractionIterationSchema = z.object({
  iteration: z.number().int().nonnegative(),
  /** The exact prompt sent to the draft model. */
  sentPrompt: z.string(),
  /** The seed-format signed prompt (reflections only): resolves audit records to their prompt. */
  signedPrompt: z.string().optional(),
  response: z.string(),
  confidence: z.number().min(0).max(1),
  corrected: z.boolean(),
  /** Who answered: the draft skill, or the local fallback when the skill was unavailable. */
  source: z.enum(['skill', 'fallback']),
  checks: z.array(InteractionCheckSchema),
});

/**
 * One line of the Omni-Loop interaction log (JSONL, schema v1): one loop run. @sarai/loop-core writes exactly
 * this (`JSON.stringify(record)` + `\n`, appended under a cross-process lock); the LoRA trainer reads it through
 * {@link InteractionOutcomeSchema}. Prompts and answers are user data: never log them.
 */
export const InteractionRecordSchema = z.object({
  v: z.literal(1),
  /** ISO-8601 time of the run. */
  ts: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a timestamp'),
  prompt: z.string(),
  image: z.object({ perceptualHash: z.string(), path: z.string() }).optional(),
  iterations: z.array(InteractionIterationSchema),
  final: z.string(),
  autoCorrected: z.boolean(),
  /** True when the final answer passed every checker (false when the run had no checkers). */
  checkersPassed: z.boolean(),
  hadCheckers: z.boolean(),
});

/** One interaction-log record as written. */
export type InteractionRecord = z.infer<typeof InteractionRecordSchema>;
export type InteractionIteration = z.infer<typeof InteractionIterationSchema>;
export type InteractionCheck = z.infer<typeof InteractionCheckSchema>;

/** The part of an iteration that learning reads (derived from {@link InteractionIterationSchema}). */
export const InteractionOutcomeIterationSchema = InteractionIterationSchema.pick({
  iteration: true,
  response: true,
  confidence: true,
  corrected: true,
  checks: true,
});

/**
 * The outcome of a run as a reader of the log (the LoRA trainer) needs it, derived from
 * {@link InteractionRecordSchema}: prompt, final answer, whether it passed or was corrected, per-iteration
 * verdicts. Other fields (schema version, sent and signed prompts, image, source) may be absent and are dropped
 * from the parsed value, so logs from any v1 writer parse.
 */
export const InteractionOutcomeSchema = InteractionRecordSchema.pick({
  ts: true,
  prompt: true,
  final: true,
  autoCorrected: true,
  checkersPassed: true,
}).extend({ iterations: z.array(InteractionOutcomeIterationSchema) });

/** What a reader keeps of one interaction-log record. */
export type InteractionOutcome = z.infer<typeof InteractionOutcomeSchema>;
export type InteractionOutcomeIteration = z.infer<typeof InteractionOutcomeIterationSchema>;
