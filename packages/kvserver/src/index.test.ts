import { describe, expect, it } from 'vitest';
import { packageName } from './index';

describe('@kv/kvserver', () => {
  it('exposes its public entry', () => {
    expect(packageName).toBe('@kv/kvserver');
  });
});
