import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/skill-draft',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    globalSetup: ['src/test-support/global-setup.ts'],
    // No registry: the reaper image cannot be pulled, and /.dockerenv must not send testcontainers down its
    // container-in-container path.
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
    // Two cores shared with other work: at most two test files at a time, each loads its own tiny model.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
