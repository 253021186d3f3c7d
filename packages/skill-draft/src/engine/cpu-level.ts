import { readFileSync } from 'node:fs';

/** CPU flags (as /proc/cpuinfo spells them) of x86-64-v3: AVX2, FMA, F16C, BMI2 (Haswell/Excavator and later). */
export const X86_64_V3_FLAGS = ['avx', 'avx2', 'fma', 'f16c', 'bmi2'] as const;

/** CPU flags of x86-64-v4: x86-64-v3 plus AVX-512 F/CD/BW/DQ/VL (Skylake-SP, Ice Lake, Zen 4 and later). */
export const X86_64_V4_FLAGS = [
  ...X86_64_V3_FLAGS,
  'avx512f',
  'avx512cd',
  'avx512bw',
  'avx512dq',
  'avx512vl',
] as const;

/** x86-64-v4 plus AVX-512 VNNI (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4 and later). */
export const X86_64_V4_VNNI_FLAGS = [...X86_64_V4_FLAGS, 'avx512_vnni'] as const;

/** This CPU's flags from /proc/cpuinfo (empty off x86-64 or without a readable /proc/cpuinfo). */
export function cpuFlags(cpuinfo?: string): Set<string> {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = process.arch === 'x64' ? readFileSync('/proc/cpuinfo', 'utf8') : '';
    } catch {
      text = '';
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('flags'));
  return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/).filter(Boolean));
}

/**
 * The flags of `required` this CPU lacks (empty: code built for them runs here); `cpuinfo` is /proc/cpuinfo's text or
 * flags already read with {@link cpuFlags}. Off x86-64 or without a readable /proc/cpuinfo every flag counts as missing.
 */
export function missingCpuFlags(
  required: readonly string[] = X86_64_V3_FLAGS,
  cpuinfo?: string | ReadonlySet<string>,
): string[] {
  const flags = typeof cpuinfo === 'object' ? cpuinfo : cpuFlags(cpuinfo);
  return required.filter((f) => !flags.has(f));
}
