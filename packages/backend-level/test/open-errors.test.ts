import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelBackend } from '../src/index';
import { b, rejection, tempPaths, text } from './helpers';

const path = tempPaths('open');

describe('opening', () => {
  it('creates a new backend directory, not its parent', async () => {
    const p = path();
    const backend = await LevelBackend.open(p);
    await backend.close();
    expect(readdirSync(p).sort()).toEqual(['ACTIVE', 'db-000001', 'lock']);

    const err = await rejection(LevelBackend.open(join(path(), 'missing', 'child')));
    expect(err.code).toBe('BACKEND_OPEN_FAILED');
    expect(err.message).toMatch(/parent directory does not exist/);
  });

  it('refuses a directory that another instance holds, and allows it after close', async () => {
    const p = path();
    const first = await LevelBackend.open(p);
    const err = await rejection(LevelBackend.open(p));
    expect(err.code).toBe('BACKEND_LOCKED');
    expect(err.message).toContain(p);
    // The refused open must not have touched the live database.
    first.put('key', b('k'), b('v'));
    await first.close();
    const second = await LevelBackend.open(p);
    expect(text(await second.get('key', b('k')))).toBe('v');
    await second.close();
  });

  it('reports a corrupt LevelDB as BACKEND_CORRUPT', async () => {
    const p = path();
    await (await LevelBackend.open(p)).close();
    writeFileSync(join(p, 'db-000001', 'CURRENT'), 'not a manifest name');
    const err = await rejection(LevelBackend.open(p));
    expect(err.code).toBe('BACKEND_CORRUPT');
    expect(err.message).toMatch(/corrupt/i);
  });

  it('reports a broken or dangling ACTIVE pointer as BACKEND_CORRUPT', async () => {
    const p = path();
    await (await LevelBackend.open(p)).close();
    writeFileSync(join(p, 'ACTIVE'), 'db-000007\n');
    expect((await rejection(LevelBackend.open(p))).code).toBe('BACKEND_CORRUPT');
    writeFileSync(join(p, 'ACTIVE'), '../elsewhere\n');
    expect((await rejection(LevelBackend.open(p))).code).toBe('BACKEND_CORRUPT');
  });

  it('refuses a directory that is not a backend, and a plain file', async () => {
    const p = path();
    mkdirSync(p);
    writeFileSync(join(p, 'notes.txt'), 'mine');
    const err = await rejection(LevelBackend.open(p));
    expect(err.code).toBe('BACKEND_OPEN_FAILED');
    expect(err.message).toMatch(/not a backend directory/);
    expect(readdirSync(p)).toEqual(['notes.txt']);

    const file = path();
    writeFileSync(file, 'x');
    expect((await rejection(LevelBackend.open(file))).code).toBe('BACKEND_OPEN_FAILED');
  });

  it('removes leftovers of an interrupted restore or creation', async () => {
    const p = path();
    const backend = await LevelBackend.open(p);
    backend.put('meta', b('kept'), b('1'));
    await backend.close();
    mkdirSync(join(p, 'db-000002'));
    writeFileSync(join(p, 'db-000002', 'CURRENT'), 'half-restored');
    writeFileSync(join(p, 'ACTIVE.tmp'), 'db-000002\n');
    const again = await LevelBackend.open(p);
    expect(readdirSync(p).sort()).toEqual(['ACTIVE', 'db-000001', 'lock']);
    expect(text(await again.get('meta', b('kept')))).toBe('1');
    await again.close();

    // Creation interrupted before ACTIVE was written: start afresh.
    const q = path();
    mkdirSync(join(q, 'db-000001'), { recursive: true });
    writeFileSync(join(q, 'db-000001', 'junk'), 'x');
    const fresh = await LevelBackend.open(q);
    expect(await fresh.range('key', b(''), undefined)).toEqual([]);
    await fresh.close();
    expect(readdirSync(join(q, 'db-000001'))).not.toContain('junk');
  });

  it('rejects invalid options and arguments as programmer errors', async () => {
    await expect(LevelBackend.open(path(), { batchLimit: 0 })).rejects.toThrow(RangeError);
    await expect(LevelBackend.open(path(), { batchInterval: 1.5 })).rejects.toThrow(RangeError);
    const backend = await LevelBackend.open(path());
    // @ts-expect-error an unknown bucket
    expect(() => backend.put('nope', b('k'), b('v'))).toThrow(TypeError);
    // @ts-expect-error a string key
    expect(() => backend.put('key', 'k', b('v'))).toThrow(TypeError);
    await expect(backend.get('__proto__' as 'key', b('k'))).rejects.toThrow(TypeError);
    await backend.close();
  });

  it('refuses use after close with BACKEND_CLOSED; close is idempotent', async () => {
    const backend = await LevelBackend.open(path());
    backend.put('key', b('k'), b('v'));
    const closing = backend.close();
    expect(() => backend.put('key', b('k2'), b('v'))).toThrow(
      expect.objectContaining({ code: 'BACKEND_CLOSED' }),
    );
    await closing;
    await backend.close();
    expect((await rejection(backend.get('key', b('k')))).code).toBe('BACKEND_CLOSED');
    expect((await rejection(backend.commit())).code).toBe('BACKEND_CLOSED');
    expect((await rejection(backend.snapshot())).code).toBe('BACKEND_CLOSED');
  });
});
