import { describe, expect, it } from 'vitest';
import { OPENMP_VARIANTS, chooseOpenmpVariant } from './bindings.js';

const ZEN4 =
  'flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512cd avx512bw avx512dq avx512vl avx512_vnni\n';
const HASWELL = 'flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2\n';
const SANDY = 'flags\t\t: fpu sse4_2 avx\n';
const options = (name: string) => ({ ...OPENMP_VARIANTS.find((v) => v.name === name)?.cmakeOptions });
const v4 = options('x86-64-v4-vnni');
const v3 = options('x86-64-v3');

describe('chooseOpenmpVariant', () => {
  it('loads the AVX-512 build on an x86-64-v4 CPU when it is built', async () => {
    const c = await chooseOpenmpVariant('/m/index.js', { cpuinfo: ZEN4, builtOptions: [v3, v4] });
    expect('variant' in c && c.variant.name).toBe('x86-64-v4-vnni');
  });

  it('falls back to the AVX2 build on an x86-64-v4 CPU when only that one is built', async () => {
    const c = await chooseOpenmpVariant('/m/index.js', { cpuinfo: ZEN4, builtOptions: [v3] });
    expect('variant' in c && c.variant.name).toBe('x86-64-v3');
  });

  it('runs the AVX2 build on an AVX-512 CPU without VNNI (Skylake-SP)', async () => {
    const skx = ZEN4.replace(' avx512_vnni', '');
    const c = await chooseOpenmpVariant('/m/index.js', { cpuinfo: skx, builtOptions: [v4, v3] });
    expect('variant' in c && c.variant.name).toBe('x86-64-v3');
  });

  it('never loads the AVX-512 build on an AVX2-only CPU', async () => {
    const c = await chooseOpenmpVariant('/m/index.js', { cpuinfo: HASWELL, builtOptions: [v4, v3] });
    expect('variant' in c && c.variant.name).toBe('x86-64-v3');
    const none = await chooseOpenmpVariant('/m/index.js', { cpuinfo: HASWELL, builtOptions: [v4] });
    expect('reason' in none && none.reason).toMatch(/no OpenMP build for x86-64-v3/);
  });

  it('says which flags an older CPU lacks', async () => {
    const c = await chooseOpenmpVariant('/m/index.js', { cpuinfo: SANDY, builtOptions: [v4, v3] });
    expect('reason' in c && c.reason).toMatch(/lacks avx2, fma, f16c, bmi2: using the prebuilt binaries/);
  });

  it('does not take a build with other cmake options for a variant', async () => {
    const c = await chooseOpenmpVariant('/m/index.js', {
      cpuinfo: ZEN4,
      builtOptions: [{ ...v4, GGML_NATIVE: 'ON' }],
    });
    expect('reason' in c).toBe(true);
  });
});
