/**
 * Small, fast, seeded PRNG (mulberry32). Deterministic across platforms: the same seed always gives the same
 * sequence, so the same seed always writes the same GGUF bytes, shuffles the same rows and draws the same test
 * images.
 *
 * `new Prng(seed)` replaces seed 0 by 0x9e3779b9 (an all-zero start gives a weak first value); {@link mulberry32}
 * is the classic function form that uses the seed as it is.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A generator starting from exactly `state` (no replacement of 0): the classic mulberry32 seeding. */
  static fromState(state: number): Prng {
    const p = new Prng(1);
    p.state = state >>> 0;
    return p;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) (32 bits of resolution). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [-1, 1). */
  nextSigned(): number {
    return this.nextU32() / 2147483648 - 1;
  }

  /** Fills `out` with uniform values of standard deviation `std` (uniform on [-√3·std, √3·std)). */
  fillUniform(out: Float32Array, std: number): void {
    const a = Math.sqrt(3) * std;
    for (let i = 0; i < out.length; i++) out[i] = (this.nextU32() / 2147483648 - 1) * a;
  }

  /** A derived generator, so that each tensor's values do not depend on the order tensors are generated in. */
  fork(label: string): Prng {
    let h = this.state ^ 0x811c9dc5;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Prng(h >>> 0);
  }
}

/** Classic mulberry32 as a function: uniform values in [0, 1), seeded with `seed >>> 0` as it is. */
export function mulberry32(seed: number): () => number {
  const p = Prng.fromState(seed);
  return () => p.nextFloat();
}
