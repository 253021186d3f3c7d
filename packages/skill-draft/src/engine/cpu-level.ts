import { readFileSync } from 'node:fs';

/** CPU flags (as /proc/cpuinfo spells them) the OpenMP build needs: x86-64-v3 (see scripts/openmp-binaries.mjs). */
export const OPENMP_BUILD_CPU_FLAGS = ['avx', 'avx2', 'fma', 'f16c', 'bmi2'] as const;

/**
 * The flags of {@link OPENMP_BUILD_CPU_FLAGS} this CPU lacks (empty: the OpenMP build runs here). Off x86-64 or
 * without a readable /proc/cpuinfo every flag counts as missing.
 */
export function missingCpuFlags(cpuinfo?: string): string[] {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = process.arch === 'x64' ? readFileSync('/proc/cpuinfo', 'utf8') : '';
    } catch {
      text = '';
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('flags'));
  const flags = new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  return OPENMP_BUILD_CPU_FLAGS.filter((f) => !flags.has(f));
}
