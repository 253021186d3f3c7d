import { Prng } from '@sarai/formats';

/** Random and boundary values for every protobuf scalar kind, from one seeded PRNG. */
export class Values {
  private readonly r: Prng;
  constructor(seed: number) {
    this.r = new Prng(seed);
  }

  float(): number {
    return this.r.nextFloat();
  }

  int(n: number): number {
    return Math.floor(this.r.nextFloat() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  chance(p: number): boolean {
    return this.r.nextFloat() < p;
  }

  /** int32 field: edges, small values and random 32-bit values. */
  int32(): number {
    return this.pick([
      0,
      1,
      -1,
      2,
      2 ** 31 - 1,
      -(2 ** 31),
      this.int(64),
      this.int(4096),
      (this.int(2 ** 32) | 0) as number,
    ]);
  }

  /** uint32 field. */
  uint32(): number {
    return this.pick([0, 1, 2, 2 ** 32 - 1, 2 ** 31, this.int(64), this.int(4096), this.int(2 ** 32)]);
  }

  /** float/double field: NaN, infinities, −0, denormals, huge and ordinary values. */
  double(): number {
    return this.pick([
      0,
      -0,
      Number.NaN,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      -1,
      1e-300,
      3.4e38,
      this.float() * 2,
      this.float() * 10 - 5,
    ]);
  }

  /** float field: as double(), within float32 range (protobuf-ts refuses to encode larger values). */
  float32(): number {
    return this.pick([
      0,
      -0,
      Number.NaN,
      Infinity,
      -Infinity,
      1.4e-45,
      3.4028234663852886e38,
      -1,
      this.float() * 2,
    ]);
  }

  /** string field: empty, ASCII, multi-byte, control characters, lone surrogates, long. */
  string(maxLen = 64): string {
    const kind = this.int(8);
    const len = this.int(maxLen + 1);
    switch (kind) {
      case 0:
        return '';
      case 1:
        return 'a'.repeat(len);
      case 2:
        return Array.from({ length: len }, () => String.fromCharCode(this.int(32))).join('');
      case 3:
        return Array.from({ length: len }, () =>
          this.pick(['é', '😀', '\u0000', '\ud800', '\udfff', '\u200b', 'ß']),
        ).join('');
      case 4:
        return Array.from({ length: len }, () => String.fromCharCode(this.int(0x10000))).join('');
      case 5:
        return this.pick([
          'webp',
          'jpeg',
          'avif',
          'png',
          'WEBP',
          'gif',
          'v1',
          'base',
          '../../etc/passwd',
          '%s%n',
        ]);
      default:
        return Array.from({ length: len }, () => String.fromCharCode(32 + this.int(95))).join('');
    }
  }

  bytes(maxLen = 256): Uint8Array {
    const out = new Uint8Array(this.int(maxLen + 1));
    for (let i = 0; i < out.length; i++) out[i] = this.int(256);
    return out;
  }

  array<T>(make: () => T, max = 4): T[] {
    return Array.from({ length: this.pick([0, 1, 2, max, max * 5]) }, make);
  }
}
