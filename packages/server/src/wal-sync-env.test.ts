import { describe, expect, it } from 'vitest';
import { walSyncOnLoop } from './start-server';

describe('KV_WAL_SYNC_ON_LOOP', () => {
  it('defaults to auto and forces the loop or the pool with on and off', () => {
    expect(walSyncOnLoop(undefined)).toBe('auto');
    expect(walSyncOnLoop('')).toBe('auto');
    expect(walSyncOnLoop('auto')).toBe('auto');
    expect(walSyncOnLoop('on')).toBe(true);
    expect(walSyncOnLoop('off')).toBe(false);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => walSyncOnLoop('yes')).toThrow(/KV_WAL_SYNC_ON_LOOP must be on, off or auto/);
  });
});
