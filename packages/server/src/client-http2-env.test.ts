import { describe, expect, it } from 'vitest';
import { clientHttp2 } from './start-server';

describe('KV_CLIENT_HTTP2', () => {
  it('defaults to our own HTTP/2; node selects grpc-js; anything else is refused', () => {
    expect(clientHttp2(undefined)).toBe('own');
    expect(clientHttp2('')).toBe('own');
    expect(clientHttp2('own')).toBe('own');
    expect(clientHttp2('node')).toBe('node');
    expect(() => clientHttp2('grpc-js')).toThrow(/KV_CLIENT_HTTP2 must be own or node/);
  });
});
