// The calibration corpus: real pictures from public Debian packages (scripts/fetch-corpus.sh, not committed), a
// few alpha-only pictures derived from them, and the variants every picture is replayed as.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';

export const VARIANTS = [
  'jpeg-q95',
  'jpeg-q75',
  'jpeg-q50',
  'resize-50',
  'resize-25',
  'crop-2.5',
  'bright+5',
  'bright-5',
  'format',
  'flip',
] as const;
export type VariantKind = (typeof VARIANTS)[number];

export interface Picture {
  name: string;
  /** sha256 of the decoded RGBA pixels: files that decode to the same pixels are one picture. */
  pixels: string;
  bytes: Buffer;
  /** Some pixel is not fully opaque. */
  alpha: boolean;
  /** The horizontal mirror image is the same picture (mean abs. difference < 1 level at full size). */
  symmetric: boolean;
}

export interface Variant {
  picture: string;
  kind: VariantKind;
  bytes: Buffer;
  /**
   * Which stored picture this variant shows: '' = the original, 'mirror' = its mirror image (another picture unless
   * symmetric), 'opaque' = the original with its transparency flattened (another picture: a JPEG has no alpha),
   * 'uniform' = flattened to one plain colour (within 8 levels: the same picture as every other plain white one).
   * A variant of a transparent picture that has no transparency left (a crop that removed a transparent border)
   * shows the opaque picture too.
   */
  shows: '' | 'mirror' | 'opaque' | 'uniform';
}

/** Corpus folder: $SKILL_IMAGE_CORPUS or ~/.cache/sarai/skill-image-corpus; fetched by the script when missing. */
export async function ensureCorpus(projectRoot: string): Promise<string> {
  const dir =
    process.env['SKILL_IMAGE_CORPUS'] ?? path.join(os.homedir(), '.cache', 'sarai', 'skill-image-corpus');
  try {
    await fs.access(path.join(dir, 'manifest.txt'));
  } catch {
    execFileSync(path.join(projectRoot, 'scripts', 'fetch-corpus.sh'), [dir], { stdio: 'inherit' });
  }
  return dir;
}

const MIN_SIDE = 32;
/** Originals larger than this (longest side) are replayed from a copy downscaled to it (keeps the run short). */
const MAX_SIDE = 2048;

/** Loads the corpus' pictures; returns those sharp can decode and that are at least 32 px on each side. */
export async function loadPictures(dir: string): Promise<{ pictures: Picture[]; skipped: string[] }> {
  const names = (await fs.readFile(path.join(dir, 'manifest.txt'), 'utf8')).split('\n').filter(Boolean);
  const pictures: Picture[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    let bytes = await fs.readFile(path.join(dir, name));
    try {
      const m = await sharp(bytes, { failOn: 'warning', pages: 1 }).metadata();
      const w = m.width ?? 0;
      const h = m.pageHeight ?? m.height ?? 0;
      if (Math.min(w, h) < MIN_SIDE) {
        skipped.push(`${name} (${w}×${h}: too small)`);
        continue;
      }
      if (Math.max(w, h) > MAX_SIDE) {
        bytes = await sharp(bytes, { pages: 1 })
          .resize(MAX_SIDE, MAX_SIDE, { fit: 'inside' })
          .png({ compressionLevel: 6 })
          .toBuffer();
      }
      const p = await describe(name, bytes);
      const twin = pictures.find((q) => q.pixels === p.pixels);
      if (twin) skipped.push(`${name} (same pixels as ${twin.name})`);
      else pictures.push(p);
    } catch (e) {
      skipped.push(`${name} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return { pictures, skipped };
}

async function describe(name: string, bytes: Buffer): Promise<Picture> {
  const { data, info } = await sharp(bytes, { pages: 1, failOn: 'warning' })
    .autoOrient()
    .toColourspace('srgb')
    .ensureAlpha(1)
    .raw()
    .toBuffer({ resolveWithObject: true });
  let minAlpha = 255;
  for (let i = 3; i < data.length; i += 4) if (data[i] < minAlpha) minAlpha = data[i];
  const flopped = await sharp(data, { raw: info }).flop().raw().toBuffer();
  let diff = 0;
  for (let i = 0; i < data.length; i++) diff += Math.abs(data[i] - flopped[i]);
  const pixels = createHash('sha256').update(`${info.width}x${info.height}`).update(data).digest('hex');
  return { name, bytes, pixels, alpha: minAlpha < 255, symmetric: diff / data.length < 1 };
}

/**
 * Alpha-only pictures made from real photographs: white colour channels, the photograph's (inverted) luminance as
 * alpha — what a transparent wallpaper or a "glow" theme looks like. They differ from each other only in alpha.
 */
export async function alphaOnlyPictures(sources: Picture[]): Promise<Picture[]> {
  const out: Picture[] = [];
  for (const src of sources) {
    const a = await sharp(src.bytes, { pages: 1 })
      .resize(800, 800, { fit: 'inside', withoutEnlargement: true })
      .greyscale()
      .negate()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = a.info;
    const rgba = Buffer.alloc(width * height * 4, 255);
    for (let i = 0; i < width * height; i++) rgba[i * 4 + 3] = a.data[i * a.info.channels];
    const bytes = await sharp(rgba, { raw: { width, height, channels: 4 } })
      .png()
      .toBuffer();
    out.push(await describe(`derived-alpha-only-${src.name}`, bytes));
  }
  return out;
}

/** The variants of one picture, encoded in its own family (JPEG source → JPEG q92, others → PNG, keeps alpha). */
export async function variants(p: Picture): Promise<Variant[]> {
  const isJpeg = p.bytes[0] === 0xff && p.bytes[1] === 0xd8;
  const base = () => sharp(p.bytes, { pages: 1 }).autoOrient();
  const { width, height } = await base()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .then((r) => r.info);
  const same = (s: Sharp) => (isJpeg ? s.jpeg({ quality: 92 }) : s.png()).toBuffer();
  const out: Variant[] = [];
  const add = (kind: VariantKind, bytes: Buffer, shows: Variant['shows'] = '') =>
    out.push({ picture: p.name, kind, bytes, shows });
  // A JPEG of a transparent picture shows it flattened on white: another picture, unless the flattened result is
  // one flat colour (several alpha-only pictures all flatten to plain white: that is one picture).
  let flattened: Variant['shows'] = p.alpha ? 'opaque' : '';
  if (p.alpha) {
    const flat = await base().flatten({ background: '#ffffff' }).png().toBuffer();
    const st = await sharp(flat).stats();
    if (st.channels.every((c) => c.max - c.min <= 8)) flattened = 'uniform';
  }
  for (const q of [95, 75, 50] as const) {
    const b = await base().flatten({ background: '#ffffff' }).jpeg({ quality: q }).toBuffer();
    add(`jpeg-q${q}`, b, flattened);
  }
  add('resize-50', await same(base().resize(Math.max(1, Math.round(width / 2)))));
  add('resize-25', await same(base().resize(Math.max(1, Math.round(width / 4)))));
  const dx = Math.round(width * 0.025);
  const dy = Math.round(height * 0.025);
  add(
    'crop-2.5',
    await same(base().extract({ left: dx, top: dy, width: width - 2 * dx, height: height - 2 * dy })),
  );
  for (const [kind, k] of [
    ['bright+5', 1.05],
    ['bright-5', 0.95],
  ] as const) {
    // Colour channels only; alpha unchanged.
    const raw = await base().ensureAlpha(1).raw().toBuffer({ resolveWithObject: true });
    add(kind, await same(sharp(raw.data, { raw: raw.info }).linear([k, k, k, 1], [0, 0, 0, 0])));
  }
  add('format', isJpeg ? await base().png().toBuffer() : await base().webp({ lossless: true }).toBuffer());
  add('flip', await same(base().flop()), p.symmetric ? '' : 'mirror');
  if (p.alpha) {
    for (const v of out) {
      if (v.shows !== '' || v.kind.startsWith('jpeg')) continue;
      if (!(await transparent(v.bytes))) v.shows = 'opaque';
    }
  }
  return out;
}

async function transparent(bytes: Buffer): Promise<boolean> {
  const a = await sharp(bytes, { pages: 1 }).ensureAlpha(1).extractChannel('alpha').raw().toBuffer();
  return a.some((x) => x !== 255);
}
