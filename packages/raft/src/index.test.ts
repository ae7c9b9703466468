import { describe, expect, it } from 'vitest';
import { packageName } from './index';

describe('@kv/raft', () => {
  it('exposes its public entry', () => {
    expect(packageName).toBe('@kv/raft');
  });
});
