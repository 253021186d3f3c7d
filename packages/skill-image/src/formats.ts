// Input allow-list and output formats.
//
// Inputs are recognised by their magic bytes BEFORE any decoder runs, and libvips' loaders are restricted
// process-wide to the allowed ones (sharp.block/unblock), so SVG (librsvg), PDF, TIFF, VIPS, FITS, ... are never
// parsed, whatever the bytes claim. GIF and TIFF had libvips CVEs fixed in sharp 0.35.0 (GHSA-f88m-g3jw-g9cj):
// GIF stays allowed (common in chats, first frame only) on the patched version; TIFF is off by default.
import sharp from 'sharp';
import { ImageError } from './errors.js';

export type InputFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';
export const INPUT_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'];
export const DEFAULT_INPUT_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif'];

export type OutputFormat = 'webp' | 'jpeg' | 'avif' | 'png';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['webp', 'jpeg', 'avif', 'png'];
export const EXTENSION: Readonly<Record<OutputFormat, string>> = {
  webp: 'webp',
  jpeg: 'jpg',
  avif: 'avif',
  png: 'png',
};

/** libvips buffer loaders per allowed input format (the only loaders left unblocked). */
const LOADERS: Readonly<Record<InputFormat, string>> = {
  jpeg: 'VipsForeignLoadJpegBuffer',
  png: 'VipsForeignLoadPngBuffer',
  webp: 'VipsForeignLoadWebpBuffer',
  gif: 'VipsForeignLoadNsgifBuffer',
  avif: 'VipsForeignLoadHeifBuffer',
  tiff: 'VipsForeignLoadTiffBuffer',
};

/** What sharp's metadata().format reports for each input format. */
export const SHARP_FORMAT: Readonly<Record<InputFormat, string>> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'heif',
  tiff: 'tiff',
};

let restricted: string | undefined;

/**
 * Blocks every libvips loader but the allowed formats' buffer loaders. Process-wide (libvips state): the service
 * and the in-process fallback both call it; a host process that needs other loaders can pass its own list.
 */
export function restrictDecoders(allowed: readonly InputFormat[]): void {
  const key = [...allowed].sort().join(',');
  if (restricted === key) return;
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: allowed.map((f) => LOADERS[f]) });
  restricted = key;
}

const ascii = (b: Uint8Array, from: number, to: number) =>
  Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');

/** Names what the bytes look like when they are not an accepted image (for error messages). */
function describeOther(b: Uint8Array): string | undefined {
  const head = ascii(b, 0, Math.min(b.length, 256)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'SVG';
  if (head.startsWith('<?xml') || head.startsWith('<!doctype') || head.startsWith('<html'))
    return 'XML/HTML text';
  if (head.startsWith('%pdf')) return 'PDF';
  if (head.startsWith('8bps')) return 'PSD';
  if (head.startsWith('bm')) return 'BMP';
  if (b[0] === 0xff && b[1] === 0x0a) return 'JPEG XL';
  if (head.startsWith('\u0000\u0000\u0000\u000cjp')) return 'JPEG 2000';
  if (head.startsWith('pk')) return 'a ZIP archive';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip data';
  let printable = 0;
  const n = Math.min(b.length, 512);
  for (let i = 0; i < n; i++)
    if ((b[i] >= 0x20 && b[i] < 0x7f) || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09) printable++;
  if (n > 0 && printable / n > 0.95) return 'text';
  return undefined;
}

/** Input format from magic bytes, or undefined. HEIC/HEIF (HEVC) is recognised to be refused by name. */
export function sniffFormat(b: Uint8Array): InputFormat | 'heic' | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(b, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 4 && (ascii(b, 0, 4) === 'II*\0' || ascii(b, 0, 4) === 'MM\0*')) return 'tiff';
  if (b.length >= 16 && ascii(b, 4, 8) === 'ftyp') {
    const boxLen = Math.min(new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0), b.length, 256);
    const brands: string[] = [ascii(b, 8, 12)];
    for (let o = 16; o + 4 <= boxLen; o += 4) brands.push(ascii(b, o, o + 4));
    if (brands.includes('avif') || brands.includes('avis')) return 'avif';
    if (brands.some((x) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(x)))
      return 'heic';
  }
  return undefined;
}

/** Checks the bytes against the allow-list; throws IMAGE_UNSUPPORTED_FORMAT with a message naming what they are. */
export function acceptInput(b: Uint8Array, allowed: readonly InputFormat[]): InputFormat {
  const f = sniffFormat(b);
  const list = allowed.join(', ');
  if (f === 'heic') {
    throw new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `HEIC/HEIF (HEVC) images are not supported: convert to JPEG or AVIF (accepted: ${list})`,
    );
  }
  if (f === undefined) {
    const what = describeOther(b);
    throw new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      what
        ? `image_data is ${what}, not an accepted image format (accepted: ${list})`
        : `image_data is not a recognised image: its first bytes match no accepted format (accepted: ${list})`,
    );
  }
  if (!allowed.includes(f)) {
    throw new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `${f.toUpperCase()} input is not accepted by this service (accepted: ${list})`,
    );
  }
  return f;
}
