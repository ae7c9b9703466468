import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
// Interim: switch to `import { backendSuite } from '@kv/mvcc/testing'` once mvcc re-exports it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { backendSuite } from '../../mvcc/src/testing/backend-suite';
import { LevelBackend } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'backend-level-suite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

backendSuite({
  name: 'LevelBackend',
  open: () => LevelBackend.open(join(root, `db${n++}`)),
  reopen: async (backend) => {
    const path = (backend as LevelBackend).path;
    await backend.close();
    return LevelBackend.open(path);
  },
  test,
  describe,
  expect,
});
