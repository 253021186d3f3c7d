import { SkillRuntimeError, parseEnvConfig } from '@sarai/skill-runtime';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { imageConfigSchema, pipelineOptionsFromConfig } from './config.js';

const run = promisify(execFile);
const MAIN = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@sarai/skill-image/package.json')),
  'dist',
  'main.js',
);

describe('configuration', () => {
  it('has container defaults and maps the environment to pipeline options', () => {
    const c = parseEnvConfig(imageConfigSchema, {});
    expect(c).toMatchObject({
      CACHE_DIR: '/cache',
      PORT: 50051,
      IMAGE_MAX_PIXELS: 50_000_000,
      IMAGE_INPUT_FORMATS: ['jpeg', 'png', 'webp', 'gif', 'avif'],
    });
    const o = pipelineOptionsFromConfig(
      parseEnvConfig(imageConfigSchema, {
        CACHE_DIR: '/x',
        CACHE_MAX_MB: '10',
        IMAGE_DEFAULT_QUALITY: '70',
        CACHE_NEAR_MATCH: 'off',
      }),
    );
    expect(o).toMatchObject({
      cacheDir: '/x',
      maxCacheBytes: 10 * 1024 * 1024,
      nearMatch: false,
      defaultQuality: { webp: 70, jpeg: 70, avif: 70, png: 70 },
    });
  });

  it('names the bad setting', () => {
    const bad = (env: Record<string, string>) => {
      try {
        parseEnvConfig(imageConfigSchema, env);
      } catch (e) {
        expect(e).toBeInstanceOf(SkillRuntimeError);
        return (e as SkillRuntimeError).message;
      }
      throw new Error('expected a config error');
    };
    expect(bad({ IMAGE_INPUT_FORMATS: 'jpeg,svg' })).toMatch(/IMAGE_INPUT_FORMATS: unknown format\(s\) svg/);
    expect(bad({ IMAGE_MAX_PIXELS: 'lots' })).toMatch(/IMAGE_MAX_PIXELS/);
    expect(bad({ IMAGE_DEFAULT_FORMAT: 'bmp' })).toMatch(/IMAGE_DEFAULT_FORMAT/);
  });

  it('the service exits non-zero with one line when the config or the cache directory is unusable', async () => {
    const fail = async (env: Record<string, string>) =>
      run(process.execPath, [MAIN], { env: { ...process.env, METRICS_PORT: '-1', PORT: '0', ...env } }).then(
        () => {
          throw new Error('expected the service to exit with an error');
        },
        (e: { code: number; stderr: string }) => e,
      );
    const cfg = await fail({ CACHE_MAX_MB: '0' });
    expect(cfg.code).toBe(2);
    expect(cfg.stderr.trim().split('\n')).toHaveLength(1);
    expect(cfg.stderr).toMatch(/RUNTIME_BAD_CONFIG.*CACHE_MAX_MB/);
    const dir = await fail({ CACHE_DIR: '/proc/version/cache' });
    expect(dir.code).toBe(1);
    expect(dir.stderr.trim().split('\n')).toHaveLength(1);
    expect(dir.stderr).toMatch(/RUNTIME_START_FAILED.*cache directory \/proc\/version\/cache is not usable/);
  });
});
