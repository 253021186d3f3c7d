import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/sandbox-contract',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // No registry: the reaper image cannot be pulled, and /.dockerenv must not send testcontainers down its
    // container-in-container path.
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
    // One file at a time: the machine is shared (2 cores) and the files start services and containers.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
