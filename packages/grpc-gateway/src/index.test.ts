import { describe, expect, it } from 'vitest';
import { packageName } from './index';

describe('@kv/grpc-gateway', () => {
  it('exposes its public entry', () => {
    expect(packageName).toBe('@kv/grpc-gateway');
  });
});
