import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes run the build in dist/: bring it up to date with the sources first.
    globalSetup: ['test/global-setup.ts'],
    // Integration tests start servers and child processes: give them room on 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
