import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // scripts/mutation.mjs narrows a run to the test files written for the part it mutates.
    include: process.env.BACKPROP_TEST_FILES?.split(',') ?? ['test/**/*.test.ts'],
    // Real-MNIST tests load 55 MB and train; a loaded 2-core CI machine needs headroom.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
