import { mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

// The suite runs twice: against real etcd 3.4 (the reference) and against
// our server (`KV_TEST_TARGET=kv`, started from its sources by
// test/cluster.ts). The transport tests use an in-process fake server, so
// they run once. `vitest run --project etcd` (or `kv`) runs one target.

export default mergeConfig(sharedConfig, {
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'etcd', env: { KV_TEST_TARGET: 'etcd' } },
      },
      {
        extends: true,
        test: { name: 'kv', exclude: ['test/transport.test.ts'], env: { KV_TEST_TARGET: 'kv' } },
      },
    ],
  },
});
