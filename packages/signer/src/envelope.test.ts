import { describe, expect, it } from 'vitest';
import { SIGNATURE_SEPARATOR, formatSignedPrompt, splitSignedPrompt } from './envelope.js';

describe('signed-prompt envelope', () => {
  it('is the seed format: text, blank line, ---SIGNATURE---, signature', () => {
    expect(SIGNATURE_SEPARATOR).toBe('\n\n---SIGNATURE---\n');
    expect(formatSignedPrompt('hello', 'SIG\n')).toBe('hello\n\n---SIGNATURE---\nSIG\n');
  });

  it('splits at the LAST separator so the text may contain the marker and even the full separator', () => {
    const text = 'a\n\n---SIGNATURE---\nnot a signature\n---SIGNATURE---\nb';
    const parts = splitSignedPrompt(formatSignedPrompt(text, '-----BEGIN PGP SIGNATURE-----\n'));
    expect(parts).toEqual({ text, signature: '-----BEGIN PGP SIGNATURE-----\n' });
  });

  it('keeps the text byte-for-byte (no trimming) including an empty text', () => {
    expect(splitSignedPrompt(formatSignedPrompt('  x \n', 's'))?.text).toBe('  x \n');
    expect(splitSignedPrompt(formatSignedPrompt('', 's'))).toEqual({ text: '', signature: 's' });
  });

  it('returns null without a separator or for non-strings', () => {
    expect(splitSignedPrompt('hello ---SIGNATURE--- world')).toBeNull();
    expect(splitSignedPrompt('hello\n---SIGNATURE---\nsig')).toBeNull();
    expect(splitSignedPrompt(undefined)).toBeNull();
    expect(splitSignedPrompt(42)).toBeNull();
  });
});
