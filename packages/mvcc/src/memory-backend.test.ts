import { describe, expect, test } from 'vitest';
import { MemoryBackend } from './memory-backend';
import { backendSuite } from './testing/index';

backendSuite({
  name: 'MemoryBackend',
  open: async () => new MemoryBackend({ snapshotChunkBytes: 1024 }),
  test,
  describe,
  expect,
});
