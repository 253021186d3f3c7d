import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@sarai/source'] },
  ssr: { resolve: { conditions: ['@sarai/source'] } },
  test: {
    name: '@sarai/registries',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // Registries, npm installs, docker push/pull and nested Nx runs share 2 cores: one file at a time.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
