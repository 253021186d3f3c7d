import { describe, expect, it } from 'vitest';
import { hardenedRunArgs } from './docker-run-args.js';

describe('hardenedRunArgs', () => {
  it('spells the default hardening as docker run flags', () => {
    expect(hardenedRunArgs()).toEqual([
      '--read-only',
      '--tmpfs',
      '/tmp:size=64m,mode=1777',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges:true',
      '--cpus',
      '1',
      '--memory',
      '256m',
      '--memory-swap',
      '256m',
      '--pids-limit',
      '128',
      '--user',
      '1000:1000',
    ]);
  });

  it('takes the limits and network none from the options', () => {
    const args = hardenedRunArgs({ cpus: 2, memoryMiB: 800, pidsLimit: 64, networkNone: true });
    expect(args.slice(args.indexOf('--cpus'), args.indexOf('--cpus') + 2)).toEqual(['--cpus', '2']);
    expect(args).toContain('800m');
    expect(args.slice(-2)).toEqual(['--network', 'none']);
  });

  it('refuses what the hardening refuses', () => {
    expect(() => hardenedRunArgs({ user: 'root' })).toThrow(/numeric "uid:gid"/);
  });
});
