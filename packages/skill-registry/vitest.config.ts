import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/skill-registry',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    testTimeout: 20_000,
    reporters: ['default'],
  },
});
