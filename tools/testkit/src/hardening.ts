import { TestkitError } from './errors.js';

/** Hardening every SARAi container runs with in tests (and in production compose files). */
export interface HardeningOptions {
  /** `--user`; default `1000:1000` (the `sarai` user of the base image). */
  user?: string;
  /** `--memory` in MiB (swap is set equal, i.e. no swap); default 256. */
  memoryMiB?: number;
  /** `--cpus`; default 1. */
  cpus?: number;
  /** `--pids-limit`; default 128. */
  pidsLimit?: number;
  /** Size of the `/tmp` tmpfs in MiB; default 64. */
  tmpfsMiB?: number;
  /** `--network none` (only `lo` inside; published ports are then ignored); default false. */
  networkNone?: boolean;
}

/** The resolved settings: what `docker inspect` and the container itself must show. */
export interface Hardening {
  user: string;
  uid: number;
  gid: number;
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  tmpfsOptions: string;
  tmpfsBytes: number;
  networkNone: boolean;
}

export const DEFAULT_HARDENING: Readonly<Required<HardeningOptions>> = Object.freeze({
  user: '1000:1000',
  memoryMiB: 256,
  cpus: 1,
  pidsLimit: 128,
  tmpfsMiB: 64,
  networkNone: false,
});

const MIB = 1024 * 1024;

export function resolveHardening(options: HardeningOptions = {}): Hardening {
  const o = { ...DEFAULT_HARDENING, ...options };
  const match = /^(\d+):(\d+)$/.exec(o.user);
  if (!match)
    throw new TestkitError('TESTKIT_BAD_OPTIONS', `user must be numeric "uid:gid", got "${o.user}"`);
  for (const [name, value] of [
    ['memoryMiB', o.memoryMiB],
    ['cpus', o.cpus],
    ['pidsLimit', o.pidsLimit],
    ['tmpfsMiB', o.tmpfsMiB],
  ] as const) {
    if (!(value > 0)) throw new TestkitError('TESTKIT_BAD_OPTIONS', `${name} must be > 0, got ${value}`);
  }
  return {
    user: o.user,
    uid: Number(match[1]),
    gid: Number(match[2]),
    memoryBytes: Math.round(o.memoryMiB * MIB),
    nanoCpus: Math.round(o.cpus * 1e9),
    pidsLimit: o.pidsLimit,
    tmpfsOptions: `size=${o.tmpfsMiB}m,mode=1777`,
    tmpfsBytes: o.tmpfsMiB * MIB,
    networkNone: o.networkNone,
  };
}
