import { describe, expect, it } from 'vitest';
import { packageName } from './index';

describe('@kv/backend-level', () => {
  it('exposes its public entry', () => {
    expect(packageName).toBe('@kv/backend-level');
  });
});
