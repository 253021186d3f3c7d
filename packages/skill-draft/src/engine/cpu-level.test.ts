import { describe, expect, it } from 'vitest';
import { X86_64_V3_FLAGS, X86_64_V4_FLAGS, missingCpuFlags } from './cpu-level.js';

const ZEN4 =
  'processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512cd avx512bw avx512dq avx512vl avx512_vnni\n';
const HASWELL = 'processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2\n';

describe('missingCpuFlags', () => {
  it('is empty for an x86-64-v3 CPU', () => {
    expect(missingCpuFlags(X86_64_V3_FLAGS, HASWELL)).toEqual([]);
    expect(missingCpuFlags(X86_64_V3_FLAGS, ZEN4)).toEqual([]);
  });

  it('names what an older CPU lacks', () => {
    expect(missingCpuFlags(X86_64_V3_FLAGS, 'flags\t\t: fpu sse4_2 avx\n')).toEqual([
      'avx2',
      'fma',
      'f16c',
      'bmi2',
    ]);
  });

  it('tells an AVX-512 CPU (x86-64-v4) from an AVX2 one', () => {
    expect(missingCpuFlags(X86_64_V4_FLAGS, ZEN4)).toEqual([]);
    expect(missingCpuFlags(X86_64_V4_FLAGS, HASWELL)).toEqual([
      'avx512f',
      'avx512cd',
      'avx512bw',
      'avx512dq',
      'avx512vl',
    ]);
  });

  it('counts every flag as missing without a flags line', () => {
    expect(missingCpuFlags(X86_64_V3_FLAGS, '')).toEqual([...X86_64_V3_FLAGS]);
  });
});
