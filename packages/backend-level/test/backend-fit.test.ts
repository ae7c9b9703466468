// Type-level proof that LevelBackend satisfies @kv/mvcc's Backend port
// structurally; tsc (and vitest's typecheck of this file) fail if it drifts.
import type { Backend, BucketName as MvccBucketName } from '@kv/mvcc';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { LevelBackend, type BucketName } from '../src/index';

describe('LevelBackend fits @kv/mvcc Backend', () => {
  it('is assignable to Backend, and the bucket sets are equal', () => {
    expectTypeOf<LevelBackend>().toExtend<Backend>();
    expectTypeOf<BucketName>().toEqualTypeOf<MvccBucketName>();
    expectTypeOf<ReturnType<typeof LevelBackend.open>>().toEqualTypeOf<Promise<LevelBackend>>();
    // A runtime witness, so the file is not an empty test.
    const open: (path: string) => Promise<Backend> = (p) => LevelBackend.open(p);
    expect(typeof open).toBe('function');
  });
});
