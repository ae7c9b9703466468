// Runs @kv/mvcc's Backend conformance suite against LevelBackend, with
// close-and-reopen of the same directory for the persistence checks.
import { backendSuite } from '@kv/mvcc/testing';
import { describe, expect, test } from 'vitest';
import { LevelBackend } from '../src/index';
import { tempPaths } from './helpers';

const path = tempPaths('suite');

backendSuite({
  name: 'LevelBackend',
  open: () => LevelBackend.open(path()),
  reopen: async (backend) => {
    if (!(backend instanceof LevelBackend)) throw new TypeError('not a LevelBackend');
    await backend.close();
    return LevelBackend.open(backend.path);
  },
  test,
  describe,
  expect,
});
