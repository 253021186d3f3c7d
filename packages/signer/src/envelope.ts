/**
 * The signed-prompt envelope of the seed (core/gpg_signer.py v2.15, Patch #4):
 *
 *     signed = text + "\n\n---SIGNATURE---\n" + armoredDetachedSignature
 *
 * Splitting rule: the separator is the exact string `"\n\n---SIGNATURE---\n"` and the envelope is split at its
 * LAST occurrence. Everything before it is the signed text (byte-for-byte, UTF-8), everything after it is the
 * armored signature block. The text itself may therefore contain `---SIGNATURE---` (even the full separator):
 * an ASCII-armored OpenPGP signature can never contain the separator (armor lines are headers, base64, a
 * checksum and `-----BEGIN/END PGP SIGNATURE-----`, never a line that is exactly `---SIGNATURE---` after a blank
 * line), so the last occurrence always belongs to the envelope. Unlike the seed's `split("---SIGNATURE---")`,
 * a prompt that mentions the marker is not rejected and the text is not trimmed.
 */
export const SIGNATURE_MARKER = '---SIGNATURE---';
export const SIGNATURE_SEPARATOR = `\n\n${SIGNATURE_MARKER}\n`;

export interface SignedPromptParts {
  /** The signed text, exactly as it was signed. */
  readonly text: string;
  /** The armored detached signature block (as found, not trimmed). */
  readonly signature: string;
}

/** Builds the envelope. The armored signature is appended unchanged (openpgp.js and gpg end it with "\n"). */
export function formatSignedPrompt(text: string, armoredSignature: string): string {
  return text + SIGNATURE_SEPARATOR + armoredSignature;
}

/** Splits an envelope at the last separator; `null` when there is no separator (or the input is not a string). */
export function splitSignedPrompt(signed: unknown): SignedPromptParts | null {
  if (typeof signed !== 'string') return null;
  const at = signed.lastIndexOf(SIGNATURE_SEPARATOR);
  if (at < 0) return null;
  return { text: signed.slice(0, at), signature: signed.slice(at + SIGNATURE_SEPARATOR.length) };
}
