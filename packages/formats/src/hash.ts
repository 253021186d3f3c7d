import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FormatsError } from './errors.js';
import { errorMessage } from './error-message.js';

/**
 * sha256 (lowercase hex) of a file, streamed (memory stays small for multi-GB models).
 * @throws FormatsError `FORMATS_IO` when the file cannot be read (cause: the errno error).
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw new FormatsError('FORMATS_IO', `cannot read ${path}: ${errorMessage(cause)}`, { cause });
  }
  return hash.digest('hex');
}

/** sha256 (lowercase hex) of a string (UTF-8) or bytes. */
export function sha256Text(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
