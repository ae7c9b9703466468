// Shared vitest settings: every package resolves in-repo imports to source
// through the "@kv/source" export condition, so tests need no build step.
import { defineConfig } from 'vitest/config';

export const sharedConfig = defineConfig({
  resolve: {
    conditions: ['@kv/source'],
  },
  ssr: {
    resolve: {
      conditions: ['@kv/source'],
      externalConditions: ['@kv/source'],
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
