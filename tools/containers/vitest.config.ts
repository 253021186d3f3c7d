import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/containers',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // The reaper image cannot be pulled here, and /.dockerenv must not send testcontainers down its
    // container-in-container path (which may pull alpine).
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
    // Files share one Docker engine and the sarai/base tag: run them one after another (2 shared cores anyway).
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
