// Calibration of the near-duplicate guard: distance distributions of pictures that ARE the same (re-encoded,
// resized, converted copies) and of look-alikes that are NOT (same scene/page with one small region changed,
// other pictures of the same family), and what the default thresholds decide for each.
//   nx run @sarai/skill-image:calibrate        (CALIBRATE_SEEDS=12 pictures per family by default)
import { perceptualKeys, probe } from '../src/decode.js';
import {
  DEFAULT_THRESHOLDS,
  distances,
  guardAccepts,
  type GuardDistances,
  type PerceptualKeys,
} from '../src/features.js';
import { acceptInput, DEFAULT_INPUT_FORMATS } from '../src/formats.js';
import { FAMILIES, encode, nearDuplicate, scene, smallEdit, type DupKind } from './generator.js';

const SEEDS = Number(process.env['CALIBRATE_SEEDS'] ?? 12);
const limits = { maxPixels: 50_000_000, timeoutSeconds: 30 };

async function keys(b: Buffer): Promise<PerceptualKeys> {
  const p = await probe(b, acceptInput(b, DEFAULT_INPUT_FORMATS), limits);
  return perceptualKeys(b, p, limits);
}

const same: Array<[string, GuardDistances]> = [];
const edits: Array<[string, GuardDistances]> = [];
const others: Array<[string, GuardDistances]> = [];
for (const family of FAMILIES) {
  const ks: PerceptualKeys[] = [];
  for (let s = 0; s < SEEDS; s++) {
    const c = scene({ family, seed: s });
    const original = await encode(c, 'jpeg', 90);
    const k0 = await keys(original);
    ks.push(k0);
    for (const kind of ['reencode', 'resize', 'resize+reencode', 'format'] as DupKind[]) {
      for (let j = 0; j < 2; j++) {
        const d = await nearDuplicate(original, s * 31 + j * 7 + kind.length, kind);
        same.push([`${family}#${s} ${d.how}`, distances(k0, await keys(d.bytes))]);
      }
    }
    for (let e = 0; e < 3; e++)
      edits.push([
        `${family}#${s} edit${e}`,
        distances(k0, await keys(await encode(smallEdit(c, s * 10 + e), 'jpeg', 90))),
      ]);
  }
  for (let i = 0; i < ks.length; i++)
    for (let j = i + 1; j < ks.length; j++) others.push([`${family}#${i}~#${j}`, distances(ks[i], ks[j])]);
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
const out: string[] = [
  `guard calibration: ${SEEDS} pictures × ${FAMILIES.length} families; thresholds ${JSON.stringify(DEFAULT_THRESHOLDS)}`,
];
for (const [name, set] of [
  ['same picture (copies)', same],
  ['small edit (look-alike)', edits],
  ['other picture, same family', others],
] as const) {
  out.push(`${name}: ${set.length} pairs`);
  for (const m of ['hamming', 'colourMad', 'detailMad', 'detailMax', 'detailBlob'] as const) {
    const xs = set.map(([, d]) => d[m]);
    out.push(
      `  ${m.padEnd(10)} min ${f(Math.min(...xs))}  p5 ${f(pct(xs, 0.05))}  p50 ${f(pct(xs, 0.5))}  p95 ${f(pct(xs, 0.95))}  max ${f(Math.max(...xs))}`,
    );
  }
}
const accepted = (set: Array<[string, GuardDistances]>) => set.filter(([, d]) => guardAccepts(d));
const sameOk = accepted(same).length;
const falseEdits = accepted(edits);
const falseOthers = accepted(others);
out.push(`verdicts with the default thresholds:`);
out.push(
  `  copies matched:            ${sameOk}/${same.length} (${((sameOk / same.length) * 100).toFixed(1)} %; the rest are recomputed, which is safe)`,
);
out.push(
  `  look-alikes matched:       ${falseEdits.length}/${edits.length}  ${falseEdits.map(([n]) => n).join(', ')}`,
);
out.push(
  `  other pictures matched:    ${falseOthers.length}/${others.length}  ${falseOthers.map(([n]) => n).join(', ')}`,
);
out.push(
  `  copies refused:            ${same
    .filter(([, d]) => !guardAccepts(d))
    .map(
      ([n, d]) =>
        `${n} (h${d.hamming} c${f(d.colourMad)} mad${f(d.detailMad)} max${f(d.detailMax)} blob${f(d.detailBlob)})`,
    )
    .join('; ')}`,
);
process.stdout.write(out.join('\n') + '\n');
