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
    // Guards against hangs, not speed checks: CI runs every package's
    // tests at once, and on a busy runner a test that takes 6 s alone has
    // taken over 20 s.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
