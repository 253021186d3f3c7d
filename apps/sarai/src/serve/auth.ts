import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CliError } from '../errors.js';

/** True for addresses only this machine can reach (then an API key is optional). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || host === '::ffff:127.0.0.1';
}

/**
 * The API key: the first line of `SARAI_API_KEY_FILE`, else `SARAI_API_KEY`; undefined when neither is set.
 * A key file that cannot be read or is empty is a configuration error (never silently open).
 */
export async function loadApiKey(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file = env['SARAI_API_KEY_FILE'];
  if (file) {
    const text = await readFile(file, 'utf8').catch((e: Error) => {
      throw new CliError('CLI_CONFIG', `cannot read SARAI_API_KEY_FILE=${file}: ${e.message}`);
    });
    const key = text.split('\n')[0]?.trim();
    if (!key)
      throw new CliError(
        'CLI_CONFIG',
        `SARAI_API_KEY_FILE=${file} is empty: put the API key on its first line`,
      );
    return key;
  }
  const key = env['SARAI_API_KEY']?.trim();
  return key || undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of an `Authorization: Bearer KEY` header. */
export function bearerMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m ? timingSafeEqual(digest((m[1] as string).trim()), digest(key)) : false;
}

/** A short non-reversible client id for a key (limiter keys and logs never hold the key itself). */
export const keyId = (key: string) => digest(key).toString('hex').slice(0, 16);
