import type { Readable } from 'node:stream';

/** One line of a stream: its text, or only its length when it was longer than the bound (never held in memory). */
export type BoundedLine = { text: string } | { tooLong: number };

/**
 * Splits a byte stream into UTF-8 lines without ever holding more than `maxBytes` of one line: a longer line is
 * skipped up to its newline and reported by length only, so one huge line (a log written without newlines, a
 * hostile file) costs constant memory instead of the whole line. `\r\n` endings lose their `\r`.
 */
export async function* boundedLines(input: Readable, maxBytes: number): AsyncGenerator<BoundedLine> {
  let parts: Buffer[] = [];
  let held = 0;
  let skipped = -1; // ≥ 0 while skipping an oversize line: its length so far
  const finish = (): BoundedLine => {
    if (skipped >= 0) {
      const n = skipped;
      skipped = -1;
      return { tooLong: n };
    }
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    parts = [];
    held = 0;
    return { text: buf.toString('utf8') };
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    while (buf.length > 0) {
      const nl = buf.indexOf(0x0a);
      const piece = nl < 0 ? buf : buf.subarray(0, nl);
      if (skipped >= 0) skipped += piece.length;
      else if (held + piece.length > maxBytes) {
        skipped = held + piece.length;
        parts = [];
        held = 0;
      } else {
        parts.push(Buffer.from(piece));
        held += piece.length;
      }
      if (nl < 0) break;
      yield finish();
      buf = buf.subarray(nl + 1);
    }
  }
  if (skipped >= 0 || held > 0) yield finish();
}
