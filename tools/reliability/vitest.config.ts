import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/reliability',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // Child processes killed at random points share 2 cores with everything else: one file at a time.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
