import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-MNIST tests load 55 MB and train; a loaded 2-core CI machine needs headroom.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
