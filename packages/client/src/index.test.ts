import { describe, expect, it } from 'vitest';
import { packageName } from './index';

describe('@kv/client', () => {
  it('exposes its public entry', () => {
    expect(packageName).toBe('@kv/client');
  });
});
