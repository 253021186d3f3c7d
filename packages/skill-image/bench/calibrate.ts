// Calibration of the near-duplicate match on REAL pictures: nx run @sarai/skill-image:calibrate
//
// Corpus: scripts/fetch-corpus.sh (Debian opencv-doc, python3-skimage, desktop-base, plymouth-themes; cached in
// $SKILL_IMAGE_CORPUS or ~/.cache/sarai/skill-image-corpus, not committed), plus alpha-only pictures derived from
// real photographs and the generator's look-alikes (same page/scene with one small region changed). Every picture
// arrives as its original, then all variants in a shuffled order, into one fresh cache index (the real CacheStore
// lookup: closest phash first, then the guard). A variant that matches an entry of its own picture is a true hit;
// one that matches an entry of another picture is a false hit. A horizontal flip of an asymmetric picture is another
// picture (matching the original is a false hit, "mirror-as-original"); a JPEG of a transparent picture is another
// picture (its alpha is flattened).
// Prints the per-variant table with the default thresholds, the same table's small-edit rows for looser settings
// (the recall / false-hit trade-off), and the time to drop 10 000 entries of the previous cache format.
//   CALIBRATE_QUICK=1: fewer pictures (smoke run).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CacheStore, sha256 } from '../src/cache.js';
import { perceptualKeys, probe } from '../src/decode.js';
import { DEFAULT_THRESHOLDS, type MatchThresholds, type PerceptualKeys } from '../src/features.js';
import { acceptInput, DEFAULT_INPUT_FORMATS } from '../src/formats.js';
import {
  VARIANTS,
  alphaOnlyPictures,
  ensureCorpus,
  loadPictures,
  variants,
  type Picture,
  type VariantKind,
} from './corpus.js';
import { FAMILIES, encode, rng, scene, smallEdit } from './generator.js';
import { LAYOUT_VERSION } from '../src/cache.js';
import { measureUpgrade } from './upgrade.js';

const QUICK = process.env['CALIBRATE_QUICK'] === '1';
const limits = { maxPixels: 50_000_000, timeoutSeconds: 60 };
const log = (s: string) => process.stderr.write(`calibrate: ${s}\n`);

interface Item {
  /** Owner label: picture name + what it shows ('' original, 'mirror', 'opaque'). */
  owner: string;
  picture: string;
  kind: VariantKind | 'original';
  sha: string;
  keys: PerceptualKeys;
}

async function keysOf(b: Buffer): Promise<PerceptualKeys> {
  const p = await probe(b, acceptInput(b, DEFAULT_INPUT_FORMATS), limits);
  return perceptualKeys(b, p, limits);
}

interface Row {
  n: number;
  trueHits: number;
  falseHits: number;
  mirrorAsOriginal: number;
  falseExamples: string[];
  falsePairs: Set<string>;
}

/** Replays originals then variants (shuffled) into a fresh index with thresholds `t`. */
async function simulate(originals: Item[], vars: Item[], t: MatchThresholds): Promise<Map<string, Row>> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'skill-image-calibrate-'));
  const store = await CacheStore.open({
    root,
    limits: { maxBytes: 2 ** 40, maxEntries: 10_000_000, maxAgeMs: 2 ** 40 },
    thresholds: t,
    fsync: false,
  });
  const owners = new Map<string, string>(); // entry id → owner
  const rows = new Map<string, Row>();
  try {
    const r = rng(7);
    const shuffled = [...vars];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    for (const it of [...originals, ...shuffled]) {
      const label = it.kind === 'original' ? 'original' : it.kind;
      const row: Row = rows.get(label) ?? {
        n: 0,
        trueHits: 0,
        falseHits: 0,
        mirrorAsOriginal: 0,
        falseExamples: [],
        falsePairs: new Set<string>(),
      };
      rows.set(label, row);
      row.n += 1;
      const exact = store.byContentHash(it.sha);
      const near = exact ?? store.findNear(it.keys).entry;
      if (!near) {
        const e = store.create(it.keys, it.sha);
        owners.set(e.id, it.owner);
        continue;
      }
      const owner = owners.get(near.id) ?? '?';
      if (owner === it.owner) {
        row.trueHits += 1;
      } else {
        row.falseHits += 1;
        if (it.kind === 'flip' && owner === `${it.picture}|`) row.mirrorAsOriginal += 1;
        if (row.falseExamples.length < 6) row.falseExamples.push(`${it.owner} → ${owner}`);
        row.falsePairs.add([it.picture, owner.split('|')[0]].sort().join(' ↔ '));
      }
      store.addContent(near, it.sha);
    }
  } finally {
    await store.close();
    await fs.rm(root, { recursive: true, force: true });
  }
  return rows;
}

async function main(): Promise<void> {
  const dir = await ensureCorpus(process.cwd());
  const { pictures: real, skipped } = await loadPictures(dir);
  const photos = real.filter((p) =>
    /(skimage-data-(coffee|chelsea|astronaut)|opencv-data-(baboon|fruits))\./.test(p.name),
  );
  const pictures: Picture[] = [...real, ...(await alphaOnlyPictures(photos))];
  const used = QUICK ? pictures.filter((_, i) => i % 4 === 0) : pictures;
  log(
    `${used.length} pictures (${used.filter((p) => p.alpha).length} with transparency), ${skipped.length} skipped`,
  );

  const originals: Item[] = [];
  const vars: Item[] = [];
  const t0 = performance.now();
  for (const p of used) {
    originals.push({
      owner: `${p.name}|`,
      picture: p.name,
      kind: 'original',
      sha: sha256(p.bytes),
      keys: await keysOf(p.bytes),
    });
    for (const v of await variants(p)) {
      vars.push({
        owner: v.shows === 'uniform' ? 'plain white' : `${p.name}|${v.shows}`,
        picture: p.name,
        kind: v.kind,
        sha: sha256(v.bytes),
        keys: await keysOf(v.bytes),
      });
    }
  }
  // Synthetic look-alikes: one small region changed (another word on a page, a small object), all distinct pictures.
  let lookAlikes = 0;
  for (const family of FAMILIES) {
    for (let s = 0; s < (QUICK ? 1 : 4); s++) {
      const c = scene({ family, seed: s });
      for (const [i, canvas] of [c, smallEdit(c, s * 10), smallEdit(c, s * 10 + 1)].entries()) {
        const b = await encode(canvas, 'jpeg', 90);
        const name = `synthetic-${family}-${s}-edit${i}`;
        originals.push({
          owner: `${name}|`,
          picture: name,
          kind: 'original',
          sha: sha256(b),
          keys: await keysOf(b),
        });
        lookAlikes += 1;
      }
    }
  }
  log(
    `keys of ${originals.length + vars.length} inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const out: string[] = [];
  const pct = (a: number, b: number) => (b === 0 ? '-' : `${((a / b) * 100).toFixed(1)} %`);
  const table = (rows: Map<string, Row>, kinds: readonly string[]) => {
    const lines = [
      `| variant     |    n | true hits | true-hit rate | false hits | mirror-as-original |`,
      `| ----------- | ---: | --------: | ------------: | ---------: | -----------------: |`,
    ];
    for (const k of kinds) {
      const r = rows.get(k);
      if (!r) continue;
      lines.push(
        `| ${k.padEnd(11)} | ${String(r.n).padStart(4)} | ${String(r.trueHits).padStart(9)} | ${pct(r.trueHits, r.n).padStart(13)} | ${String(r.falseHits).padStart(10)} | ${String(r.mirrorAsOriginal).padStart(18)} |`,
      );
    }
    return lines;
  };
  out.push(
    `skill-image calibration on real pictures: ${used.length} pictures from ${dir} (${used.filter((p) => p.alpha).length} with transparency, ` +
      `${used.filter((p) => p.name.startsWith('derived-')).length} of them alpha-only made from photographs), ` +
      `${lookAlikes} synthetic look-alikes, ${vars.length} variants; ${skipped.length} files skipped`,
  );
  out.push(`default thresholds ${JSON.stringify(DEFAULT_THRESHOLDS)}`);
  out.push(`("original" row: an original matching an earlier, different picture is a false hit)`);
  const rows = await simulate(originals, vars, DEFAULT_THRESHOLDS);
  out.push(...table(rows, ['original', ...VARIANTS]));
  const all = [...rows.values()];
  const falseTotal = all.reduce((a, r) => a + r.falseHits, 0);
  const mirrorTotal = all.reduce((a, r) => a + r.mirrorAsOriginal, 0);
  out.push(`false hits: ${falseTotal}; mirror-as-original: ${mirrorTotal}`);
  for (const [k, r] of rows) if (r.falseExamples.length) out.push(`  ${k}: ${r.falseExamples.join('; ')}`);
  const pairs = new Set<string>();
  for (const r of rows.values()) for (const e of r.falsePairs) pairs.add(e);
  out.push(
    `pictures involved in false hits (picture ↔ picture whose entry it got): ${[...pairs].sort().join(', ') || 'none'}`,
  );
  if (skipped.length) out.push(`skipped: ${skipped.join(', ')}`);

  // Trade-off: looser settings for small edits (crop, brightness) and what they cost in false hits.
  const alternatives: Array<[string, MatchThresholds]> = [
    ['no fine check (keys v2)', { ...DEFAULT_THRESHOLDS, maxFineResidual: 255, maxCropFineResidual: 255 }],
    [
      'fine residual ≤ 0.6 (crop ≤ 1.2)',
      { ...DEFAULT_THRESHOLDS, maxFineResidual: 0.6, maxCropFineResidual: 1.2 },
    ],
    [
      'fine residual ≤ 0.3 (crop ≤ 0.6)',
      { ...DEFAULT_THRESHOLDS, maxFineResidual: 0.3, maxCropFineResidual: 0.6 },
    ],
    ['no crop path, colour ≤ 3', { ...DEFAULT_THRESHOLDS, maxColourMad: 3, maxCropDetailMad: 0 }],
    ['crop detail mad ≤ 5 (looser crops)', { ...DEFAULT_THRESHOLDS, maxCropDetailMad: 5 }],
    ['detail mad ≤ 2.5', { ...DEFAULT_THRESHOLDS, maxDetailMad: 2.5 }],
    ['detail mad ≤ 8 (previous default)', { ...DEFAULT_THRESHOLDS, maxDetailMad: 8 }],
  ];
  out.push('');
  out.push('trade-off (small edits vs false hits over all variants):');
  out.push(`| setting | crop-2.5 | bright+5 | bright-5 | false hits (all) | mirror-as-original |`);
  out.push(`| --- | ---: | ---: | ---: | ---: | ---: |`);
  const sumRow = (name: string, rs: Map<string, Row>) => {
    const v = [...rs.values()];
    const rate = (k: string) => pct(rs.get(k)?.trueHits ?? 0, rs.get(k)?.n ?? 0);
    out.push(
      `| ${name} | ${rate('crop-2.5')} | ${rate('bright+5')} | ${rate('bright-5')} | ${v.reduce((a, r) => a + r.falseHits, 0)} | ${v.reduce((a, r) => a + r.mirrorAsOriginal, 0)} |`,
    );
  };
  sumRow('default', rows);
  for (const [name, t] of alternatives) sumRow(name, await simulate(originals, vars, t));

  // Format upgrade: entries of the previous cache format are dropped at start.
  const n = QUICK ? 1000 : 10_000;
  log(`writing ${n} entries of the previous cache format`);
  const u = await measureUpgrade(n);
  out.push('');
  out.push(
    `cache format upgrade (layout ${LAYOUT_VERSION - 1} → ${LAYOUT_VERSION}, old entries DROPPED): ${u.entries} old entries → open ${u.openMs.toFixed(1)} ms ` +
      `(service serving from then on), background removal of their files ${(u.removalMs / 1000).toFixed(2)} s, ` +
      `${u.left} old entries left in the index`,
  );
  process.stdout.write(out.join('\n') + '\n');
  // Fails on any false hit (a mirror-as-original is one), or an old entry left after the upgrade.
  if (falseTotal > 0 || mirrorTotal > 0 || u.left > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`calibrate failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
