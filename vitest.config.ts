import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'demo/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Vitest's default is one worker less than the cores: a single worker on the 2-core CI machines. Most files
    // wait on child processes, servers, Redis and PostgreSQL rather than compute, so one worker more than the cores
    // keeps the CPU busy: 9 minutes instead of 14 for the suite there, with every test passing.
    maxWorkers: availableParallelism() + 1,
  },
});
