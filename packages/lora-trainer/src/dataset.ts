import { createReadStream } from 'node:fs';
import type { ZodError } from 'zod';
import {
  InteractionOutcomeSchema,
  errorMessage,
  sha256Text as sha256,
  type InteractionOutcome,
} from '@sarai/formats';
import { boundedLines } from './bounded-lines.js';
import { TrainerError } from './errors.js';

/** A line that could not be used; `reason` never contains the line's content. */
export interface MalformedLine {
  /** 1-based line number. */
  line: number;
  reason: string;
}

export interface ParsedInteractionLog {
  records: InteractionOutcome[];
  /** Non-blank lines seen. */
  lines: number;
  malformed: number;
  /** The first {@link MAX_REPORTED_MALFORMED} malformed lines. */
  malformedLines: MalformedLine[];
}

/** Lines longer than this are counted as malformed without being parsed. */
export const MAX_LINE_CHARS = 4 * 1024 * 1024;
export const MAX_REPORTED_MALFORMED = 20;

function describeIssues(error: ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(record)'}: ${i.code}`)
    .join('; ');
}

class LogAccumulator {
  readonly records: InteractionOutcome[] = [];
  readonly malformedLines: MalformedLine[] = [];
  malformed = 0;
  lines = 0;

  add(text: string, line: number): void {
    if (text.trim() === '') return;
    this.lines++;
    const reason = this.reasonOrRecord(text);
    if (typeof reason === 'string') {
      this.malformed++;
      if (this.malformedLines.length < MAX_REPORTED_MALFORMED) this.malformedLines.push({ line, reason });
    } else {
      this.records.push(reason);
    }
  }

  /** A line longer than {@link MAX_LINE_CHARS} bytes, skipped unread. */
  addTooLong(line: number): void {
    this.lines++;
    this.malformed++;
    if (this.malformedLines.length < MAX_REPORTED_MALFORMED)
      this.malformedLines.push({ line, reason: `line longer than ${MAX_LINE_CHARS} bytes` });
  }

  private reasonOrRecord(text: string): string | InteractionOutcome {
    if (text.length > MAX_LINE_CHARS) return `line longer than ${MAX_LINE_CHARS} characters`;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return 'not valid JSON';
    }
    const parsed = InteractionOutcomeSchema.safeParse(json);
    return parsed.success ? parsed.data : `schema: ${describeIssues(parsed.error)}`;
  }

  result(): ParsedInteractionLog {
    return {
      records: this.records,
      lines: this.lines,
      malformed: this.malformed,
      malformedLines: this.malformedLines,
    };
  }
}

/** Parses interaction-log text. Malformed lines are counted and skipped, never thrown. */
export function parseInteractionLog(text: string): ParsedInteractionLog {
  const acc = new LogAccumulator();
  text.split('\n').forEach((line, i) => acc.add(line, i + 1));
  return acc.result();
}

/**
 * Streams an interaction log file. A missing file is an empty log; other read errors throw
 * `TRAINER_LOG_UNREADABLE`.
 */
export async function readInteractionLog(path: string): Promise<ParsedInteractionLog> {
  const acc = new LogAccumulator();
  const stream = createReadStream(path);
  try {
    let n = 0;
    // A line over the bound is skipped without being held in memory (a hostile or runaway log line).
    for await (const line of boundedLines(stream, MAX_LINE_CHARS)) {
      n++;
      if ('text' in line) acc.add(line.text, n);
      else acc.addTooLong(n);
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return acc.result();
    throw new TrainerError(
      'TRAINER_LOG_UNREADABLE',
      `cannot read interaction log ${path}: ${errorMessage(cause)}`,
      { cause },
    );
  } finally {
    stream.destroy();
  }
  return acc.result();
}

/** One (prompt → improved answer) pair. */
export interface TrainingExample {
  /** sha256 of the normalised (prompt, answer) pair. */
  id: string;
  split: 'train' | 'eval';
  prompt: string;
  answer: string;
}

export interface DatasetStats {
  /** Non-blank log lines. */
  lines: number;
  records: number;
  malformed: number;
  malformedLines: MalformedLine[];
  /** Records whose final answer passed its checkers or was corrected. */
  eligible: number;
  /** Records neither passing their checkers nor corrected. */
  notImproved: number;
  /** Eligible records with an empty prompt or final answer. */
  empty: number;
  /** Eligible records dropped because a newer record has the same prompt. */
  duplicates: number;
  train: number;
  eval: number;
  /** False when the dataset was too small to hold out anything (evaluation then runs on the training pairs). */
  evalHeldOut: boolean;
}

export interface LoraDataset {
  train: TrainingExample[];
  eval: TrainingExample[];
  stats: DatasetStats;
  /** Canonical JSONL of all examples (eval first, then train, each sorted by id): what the manifest hashes. */
  jsonl: string;
  sha256: string;
}

export interface BuildDatasetOptions {
  /** Fraction of prompts held out for evaluation, chosen by hash (default 0.1). */
  evalFraction?: number;
}

/** Whitespace-normalised text used for deduplication and hashing (training uses the trimmed original). */
export function normaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+/g, ' ')
    .trim();
}

/** Deterministic position of a prompt in [0, 1): the eval split is every prompt below `evalFraction`. */
export function evalHash(prompt: string): number {
  return parseInt(sha256(`sarai-lora-eval\0${normaliseText(prompt)}`).slice(0, 8), 16) / 2 ** 32;
}

/** True when a run's final answer is worth learning: it passed its checkers or was corrected by the loop. */
export function isImproved(record: InteractionOutcome): boolean {
  return record.checkersPassed || record.autoCorrected;
}

/**
 * Turns interaction records into (prompt → improved answer) pairs: keeps runs that passed their checkers or were
 * corrected, keeps the newest answer per prompt, holds out an eval split by prompt hash (at least one pair when
 * there are two or more) and hashes the canonical JSONL.
 */
export function buildDataset(log: ParsedInteractionLog, options: BuildDatasetOptions = {}): LoraDataset {
  const evalFraction = options.evalFraction ?? 0.1;
  if (!(evalFraction >= 0 && evalFraction < 1)) {
    throw new TrainerError('TRAINER_INVALID_OPTIONS', `evalFraction must be in [0, 1), got ${evalFraction}`);
  }
  let eligible = 0;
  let notImproved = 0;
  let empty = 0;
  const byPrompt = new Map<string, { record: InteractionOutcome; time: number }>();
  for (const record of log.records) {
    if (!isImproved(record)) {
      notImproved++;
      continue;
    }
    eligible++;
    const prompt = normaliseText(record.prompt);
    if (prompt === '' || normaliseText(record.final) === '') {
      empty++;
      continue;
    }
    const time = Date.parse(record.ts);
    const seen = byPrompt.get(prompt);
    if (!seen || time >= seen.time) byPrompt.set(prompt, { record, time });
  }
  const duplicates = eligible - empty - byPrompt.size;

  const pairs = [...byPrompt.values()].map(({ record }) => {
    const prompt = record.prompt.trim();
    const answer = record.final.trim();
    return {
      id: sha256(JSON.stringify([normaliseText(prompt), normaliseText(answer)])),
      prompt,
      answer,
      h: evalHash(prompt),
    };
  });
  pairs.sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : 1));
  const evalSet = new Set(pairs.filter((p) => p.h < evalFraction));
  if (evalSet.size === 0 && pairs.length >= 2 && evalFraction > 0)
    evalSet.add(pairs[0] as (typeof pairs)[number]);
  if (evalSet.size === pairs.length && pairs.length >= 2)
    evalSet.delete(pairs[pairs.length - 1] as (typeof pairs)[number]);

  const byId = (a: TrainingExample, b: TrainingExample): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const train: TrainingExample[] = [];
  const evalExamples: TrainingExample[] = [];
  for (const p of pairs) {
    const example = { id: p.id, prompt: p.prompt, answer: p.answer };
    if (evalSet.has(p)) evalExamples.push({ ...example, split: 'eval' });
    else train.push({ ...example, split: 'train' });
  }
  train.sort(byId);
  evalExamples.sort(byId);
  const jsonl = [...evalExamples, ...train]
    .map((e) => JSON.stringify({ id: e.id, split: e.split, prompt: e.prompt, answer: e.answer }) + '\n')
    .join('');
  return {
    train,
    eval: evalExamples,
    stats: {
      lines: log.lines,
      records: log.records.length,
      malformed: log.malformed,
      malformedLines: log.malformedLines,
      eligible,
      notImproved,
      empty,
      duplicates,
      train: train.length,
      eval: evalExamples.length,
      evalHeldOut: evalExamples.length > 0,
    },
    jsonl,
    sha256: sha256(jsonl),
  };
}
