// Everything that touches pixels: probing the header, the perceptual thumbnail, and encoding an output variant.
// All decoding goes through the same sharp options: pixel limit, strict failure on invalid data, first frame only.
import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { ImageError } from './errors.js';
import { keysFromThumbnail, THUMB_SIZE, type PerceptualKeys } from './features.js';
import { SHARP_FORMAT, type InputFormat, type OutputFormat } from './formats.js';

export interface DecodeLimits {
  maxPixels: number;
  /** Seconds libvips may spend on one output (sharp's timeout; 0 = none). */
  timeoutSeconds: number;
}

export interface Probe {
  format: InputFormat;
  /** Auto-oriented size of the first frame. */
  width: number;
  height: number;
  /** Progressive JPEG / interlaced PNG (decoded whole, not streamed). */
  progressive: boolean;
  /** EXIF orientation needs a 90° rotation (decoded whole). */
  rotated: boolean;
  /** The format has an alpha channel (its values decide whether the picture is opaque). */
  alpha: boolean;
}

const mp = (n: number) => `${(n / 1e6).toFixed(1)} MP`;

function inputOptions(limits: DecodeLimits): SharpOptions {
  return {
    // Refuses anything whose header announces more pixels than the limit, before allocating (decompression bombs).
    limitInputPixels: limits.maxPixels,
    // sharp's advice for untrusted input: abort on any invalid pixel data (corrupt, truncated).
    failOn: 'warning',
    sequentialRead: true,
    autoOrient: true,
    pages: 1,
  };
}

/** Maps libvips/sharp failures to errors that say what was wrong with the input. */
export function explainDecodeError(e: unknown, format: InputFormat, limits: DecodeLimits): ImageError {
  if (e instanceof ImageError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const F = format.toUpperCase();
  if (/exceeds pixel limit/i.test(msg)) {
    return new ImageError(
      'IMAGE_TOO_LARGE',
      `${F} image has more pixels than the ${mp(limits.maxPixels)} limit (IMAGE_MAX_PIXELS)`,
    );
  }
  if (/timeout/i.test(msg)) {
    return new ImageError(
      'IMAGE_TIMEOUT',
      `processing the ${F} image took longer than ${limits.timeoutSeconds} s (IMAGE_TIMEOUT_MS)`,
    );
  }
  if (/out of memory|memory allocation|cannot allocate|failed to allocate/i.test(msg)) {
    return new ImageError(
      'IMAGE_TOO_LARGE',
      `${F} image needs more memory than this service has: send a smaller image`,
    );
  }
  if (/unsupported image format/i.test(msg)) {
    return new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `image_data starts like ${F} but no accepted decoder can read it`,
    );
  }
  const detail = msg.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ImageError(
    'IMAGE_CORRUPT',
    `${F} data is corrupt or truncated and cannot be decoded: ${detail}`,
  );
}

/** Reads the header only: format, oriented size, pixel count against the limit. */
export async function probe(input: Uint8Array, format: InputFormat, limits: DecodeLimits): Promise<Probe> {
  let m: Metadata;
  try {
    // Header only: no pixel limit here so the error below can say how large the image claims to be.
    m = await sharp(input, { ...inputOptions(limits), limitInputPixels: false }).metadata();
  } catch (e) {
    throw explainDecodeError(e, format, limits);
  }
  if (m.format !== SHARP_FORMAT[format]) {
    throw new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `image_data starts like ${format.toUpperCase()} but decodes as ${m.format ?? 'nothing'}`,
    );
  }
  if (format === 'avif' && m.compression !== 'av1') {
    throw new ImageError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `HEIF with ${m.compression ?? 'unknown'} compression is not supported: send AVIF, JPEG or PNG`,
    );
  }
  // Only the first frame of animated images is decoded (pages: 1).
  const frameW = m.width ?? 0;
  const frameH = m.pageHeight ?? m.height ?? 0;
  if (!(frameW > 0 && frameH > 0))
    throw new ImageError('IMAGE_CORRUPT', `${format.toUpperCase()} header has no valid dimensions`);
  const pixels = frameW * frameH;
  if (pixels > limits.maxPixels) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `image is ${frameW}×${frameH} = ${mp(pixels)}, over the ${mp(limits.maxPixels)} limit (IMAGE_MAX_PIXELS): send a smaller image`,
    );
  }
  const rotated = (m.orientation ?? 1) >= 5;
  return {
    format,
    width: rotated ? frameH : frameW,
    height: rotated ? frameW : frameH,
    progressive: m.isProgressive === true,
    rotated,
    alpha: m.hasAlpha === true,
  };
}

/**
 * Decodes a 64×64 RGBA thumbnail (no JPEG shrink-on-load: stable keys; alpha kept: the stored output keeps it)
 * and derives the perceptual keys.
 */
export async function perceptualKeys(
  input: Uint8Array,
  p: Probe,
  limits: DecodeLimits,
): Promise<PerceptualKeys> {
  try {
    const { data, info } = await sharp(input, inputOptions(limits))
      .timeout({ seconds: limits.timeoutSeconds })
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'fill', fastShrinkOnLoad: false })
      .toColourspace('srgb')
      .ensureAlpha(1)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return keysFromThumbnail(toRgba(data, info.channels), p.width, p.height, await opaque(input, p, limits));
  } catch (e) {
    throw explainDecodeError(e, p.format, limits);
  }
}

/**
 * Whether every pixel is fully opaque: no alpha channel, or its minimum is 255 (a second, streaming pass, only for
 * inputs that have an alpha channel: a few transparent pixels disappear in a 64×64 thumbnail). Costs one byte per
 * pixel, counted in the decode-memory estimate.
 */
async function opaque(input: Uint8Array, p: Probe, limits: DecodeLimits): Promise<boolean> {
  if (!p.alpha) return true;
  // (sharp's stats() would describe the input, not the extracted channel: reduce the raw alpha plane here.)
  const alpha = await sharp(input, inputOptions(limits))
    .timeout({ seconds: limits.timeoutSeconds })
    .extractChannel('alpha')
    .raw()
    .toBuffer();
  for (let i = 0; i < alpha.length; i++) if (alpha[i] !== 255) return false;
  return true;
}

function toRgba(data: Buffer, channels: number): Uint8Array {
  const n = THUMB_SIZE * THUMB_SIZE;
  if (channels === 4) return new Uint8Array(data.buffer, data.byteOffset, n * 4);
  // Grey + alpha (toColourspace keeps 2-channel input as is).
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) out[i * 4 + k] = data[i * channels + (channels >= 3 ? k : 0)];
    out[i * 4 + 3] = channels === 2 || channels === 4 ? data[i * channels + channels - 1] : 255;
  }
  return out;
}

export interface EncodeSpec {
  format: OutputFormat;
  quality: number;
  maxDimension: number;
  avifEffort: number;
}

export interface Encoded {
  data: Buffer;
  width: number;
  height: number;
}

/** Auto-orients, fits inside max_dimension (never enlarges), strips metadata, converts to sRGB, encodes. */
export async function encodeVariant(
  input: Uint8Array,
  p: Probe,
  spec: EncodeSpec,
  limits: DecodeLimits,
): Promise<Encoded> {
  try {
    let img = sharp(input, inputOptions(limits)).timeout({ seconds: limits.timeoutSeconds }).resize({
      width: spec.maxDimension,
      height: spec.maxDimension,
      fit: 'inside',
      withoutEnlargement: true,
    });
    switch (spec.format) {
      case 'webp':
        img = img.webp({ quality: spec.quality });
        break;
      case 'jpeg':
        img = img.flatten({ background: '#ffffff' }).jpeg({ quality: spec.quality });
        break;
      case 'avif':
        img = img.avif({ quality: spec.quality, effort: spec.avifEffort });
        break;
      case 'png':
        // quality 0 = lossless; 1–99 = palette quantisation at that quality (libimagequant).
        img = spec.quality > 0 ? img.png({ palette: true, quality: spec.quality }) : img.png();
        break;
    }
    const { data, info } = await img.toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw explainDecodeError(e, p.format, limits);
  }
}
