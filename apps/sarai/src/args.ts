import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.js';

// Command-line parsing and option validation shared by every sarai command: one message format for bad options.

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  maxPositionals: number,
): { values: Values; positionals: string[] } {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }) as {
      values: Values;
      positionals: string[];
    };
  } catch (e) {
    throw usageError((e as Error).message);
  }
  if (parsed.positionals.length > maxPositionals)
    throw usageError(`unexpected argument: ${parsed.positionals[maxPositionals]}`);
  return parsed;
}

/** An integer option within [min, max], or undefined when absent; anything else is a usage error. */
export function int(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw usageError(`--${name} must be an integer from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

/** A number option within [min, max], or undefined when absent; anything else is a usage error. */
export function num(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw usageError(`--${name} must be a number from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

export function optional<K extends string, V>(k: K, v: V | undefined): Partial<Record<K, V>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, V>);
}
