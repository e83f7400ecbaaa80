import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/build.ts'],
    // Fails a test whose CLI runs printed "unexpected error" (migrate-guard's own bug).
    setupFiles: ['test/helpers/fail-on-unexpected-error.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The CLI tests start real processes and copy real databases; two cores, two workers.
    maxWorkers: 2,
  },
});
