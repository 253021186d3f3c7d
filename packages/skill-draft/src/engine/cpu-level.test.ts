import { describe, expect, it } from 'vitest';
import { OPENMP_BUILD_CPU_FLAGS, missingCpuFlags } from './cpu-level.js';

describe('missingCpuFlags', () => {
  it('is empty for an x86-64-v3 CPU', () => {
    const info = `processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f\n`;
    expect(missingCpuFlags(info)).toEqual([]);
  });

  it('names what an older CPU lacks', () => {
    expect(missingCpuFlags('flags\t\t: fpu sse4_2 avx\n')).toEqual(['avx2', 'fma', 'f16c', 'bmi2']);
  });

  it('counts every flag as missing without a flags line', () => {
    expect(missingCpuFlags('')).toEqual([...OPENMP_BUILD_CPU_FLAGS]);
  });
});
