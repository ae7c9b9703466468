import { describe, expect, it } from 'vitest';
import { authpb } from '@kv/api';
import { covers } from './permissions';

const T = authpb.Permission_Type;
const b = (s: string): Buffer => Buffer.from(s);
const role = (...perms: [number, string, string][]): authpb.Role => ({
  name: b('r'),
  keyPermission: perms.map(([permType, key, end]) => ({
    permType: permType as authpb.Permission_Type,
    key: b(key),
    rangeEnd: b(end),
  })),
});

describe('key-range permissions', () => {
  it('grants a single key only for that key', () => {
    const r = [role([T.READ, 'foo', ''])];
    expect(covers(r, 'read', b('foo'), b(''))).toBe(true);
    expect(covers(r, 'read', b('foo2'), b(''))).toBe(false);
    expect(covers(r, 'write', b('foo'), b(''))).toBe(false);
  });

  it('grants prefixes and ranges, and needs the whole requested range covered', () => {
    const r = [role([T.READWRITE, 'a/', 'a0'])];
    expect(covers(r, 'write', b('a/x'), b(''))).toBe(true);
    expect(covers(r, 'read', b('a/'), b('a0'))).toBe(true);
    expect(covers(r, 'read', b('a/'), b('b'))).toBe(false);
    expect(covers(r, 'read', b('a'), b(''))).toBe(false);
  });

  it('joins adjacent grants from several roles', () => {
    const r = [role([T.READ, 'a', 'm']), role([T.READ, 'm', 'z'])];
    expect(covers(r, 'read', b('b'), b('y'))).toBe(true);
    expect(covers(r, 'read', b('b'), b('zz'))).toBe(false);
  });

  it('treats range_end "\\0" as everything from the key on', () => {
    const r = [role([T.WRITE, 'k', '\0'])];
    expect(covers(r, 'write', b('zzz'), b(''))).toBe(true);
    expect(covers(r, 'write', b('k'), b('\0'))).toBe(true);
    expect(covers(r, 'write', b('j'), b(''))).toBe(false);
  });
});
