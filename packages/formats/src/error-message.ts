/**
 * The human-readable message of any thrown value: an Error's `message`, else a `message` string property of an
 * object (some native addons throw plain objects), else `String(value)`. Never throws.
 */
export function errorMessage(value: unknown): string {
  if (value instanceof Error) return value.message;
  const message = (value as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(value);
}
