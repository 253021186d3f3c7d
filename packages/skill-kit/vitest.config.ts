import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/skill-kit',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // The scratch-workspace test runs Nx, Docker builds and containers: no registry reaper, one file at a time.
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
