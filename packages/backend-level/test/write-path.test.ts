import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LevelBackend } from '../src/index';
import { b, rejection, tempPaths, text } from './helpers';

const path = tempPaths('write');

async function* streamOf(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

/**
 * Makes the write() of the next chained batch (the one a backend fills with
 * its buffered writes and commits) run `replace` instead, which may call the
 * real write. Returns the spy, to restore.
 */
function interceptNextBatchWrite(replace: (write: () => Promise<void>) => Promise<void>): {
  mockRestore(): void;
} {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply below
  const original = ClassicLevel.prototype.batch;
  return vi.spyOn(ClassicLevel.prototype, 'batch').mockImplementationOnce(function (
    this: ClassicLevel,
    ...args: unknown[]
  ) {
    const batch = (original as (...a: unknown[]) => { write(): Promise<void> }).apply(this, args);
    const write = batch.write.bind(batch);
    batch.write = () => replace(write);
    return batch;
  } as unknown as ClassicLevel['batch']);
}

describe('batched commits', () => {
  it('commits when batchLimit writes are buffered, without waiting for the timer', async () => {
    const backend = await LevelBackend.open(path(), { batchLimit: 10, batchInterval: 60_000 });
    for (let i = 0; i < 9; i++) backend.put('key', b(`k${i}`), b('v'));
    expect(backend.stats()).toEqual({ pendingWrites: 9, committingWrites: 0, commits: 0 });
    backend.delete('key', b('k0'));
    // The tenth write started the commit synchronously.
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 10, commits: 0 });
    backend.put('meta', b('next'), b('batch'));
    await backend.commit();
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 0, commits: 2 });
    await backend.close();
  });

  it('tells onCommit how long each successful commit took', async () => {
    const took: number[] = [];
    const backend = await LevelBackend.open(path(), {
      batchLimit: 2,
      onCommit: (ms) => took.push(ms),
    });
    backend.put('key', b('a'), b('1'));
    await backend.commit();
    expect(took).toHaveLength(1);
    backend.put('key', b('b'), b('2'));
    backend.put('key', b('c'), b('3'));
    backend.put('key', b('d'), b('4'));
    await backend.commit();
    // Two commits: the one batchLimit started, then the explicit one.
    expect(took).toHaveLength(3);
    for (const ms of took) expect(ms).toBeGreaterThanOrEqual(0);
    expect(backend.stats().commits).toBe(3);
    await backend.close();
  });

  it('commits batchInterval ms after the first buffered write', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const backend = await LevelBackend.open(path(), { batchInterval: 100 });
    backend.put('key', b('a'), b('1'));
    vi.advanceTimersByTime(60);
    backend.put('key', b('b'), b('2'));
    vi.advanceTimersByTime(39);
    expect(backend.stats().pendingWrites).toBe(2);
    vi.advanceTimersByTime(1);
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 2, commits: 0 });
    await backend.commit();
    expect(backend.stats().commits).toBe(1);
    // An explicit commit cancels the timer: nothing fires later.
    backend.put('key', b('c'), b('3'));
    await backend.commit();
    vi.advanceTimersByTime(1000);
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 0, commits: 2 });
    await backend.close();
  });

  it('commits 10 ms after the first buffered write by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const backend = await LevelBackend.open(path());
    backend.put('key', b('a'), b('1'));
    vi.advanceTimersByTime(9);
    expect(backend.stats().pendingWrites).toBe(1);
    vi.advanceTimersByTime(1);
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 1, commits: 0 });
    await backend.close();
  });

  it('many concurrent commit() calls share commits and all resolve after their writes land', async () => {
    const backend = await LevelBackend.open(path(), { batchInterval: 60_000 });
    const commits: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      backend.put('key', b(`k${String(i).padStart(2, '0')}`), b(String(i)));
      commits.push(backend.commit());
    }
    await Promise.all(commits);
    // One in flight plus at most one queued behind it at any time.
    expect(backend.stats().commits).toBeLessThanOrEqual(50);
    expect(backend.stats().pendingWrites + backend.stats().committingWrites).toBe(0);
    expect((await backend.range('key', b(''), undefined)).length).toBe(50);
    await backend.close();
  });
});

describe('the commit in flight', () => {
  it('stays visible to every kind of read until LevelDB has it, under newer pending writes', async () => {
    const backend = await LevelBackend.open(path(), { batchInterval: 60_000 });
    backend.put('key', b('a'), b('stored'));
    await backend.commit();
    // Hold the next LevelDB batch until released, so the commit stays in flight.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const spy = interceptNextBatchWrite((write) => gate.then(write));
    backend.put('key', b('b'), b('committing'));
    backend.put('key', b('c'), b('committing'));
    backend.delete('key', b('a'));
    const committing = backend.commit();
    expect(backend.stats()).toEqual({ pendingWrites: 0, committingWrites: 3, commits: 1 });
    backend.put('key', b('c'), b('pending'));
    backend.put('key', b('d'), b('pending'));

    const view = async (): Promise<unknown> => ({
      get: [await backend.get('key', b('a')), await backend.get('key', b('b'))].map(text),
      many: (await backend.getMany('key', [b('a'), b('b'), b('c'), b('d')])).map(text),
      range: (await backend.range('key', b(''), undefined)).map(
        (e) => `${text(e.key)}=${text(e.value)}`,
      ),
      reverse: (await backend.range('key', b(''), undefined, { reverse: true, limit: 2 })).map(
        (e) => text(e.key),
      ),
      hash: await backend.hash('key'),
    });
    const during = await view();
    expect(during).toEqual({
      get: [undefined, 'committing'],
      many: [undefined, 'committing', 'pending', 'pending'],
      range: ['b=committing', 'c=pending', 'd=pending'],
      reverse: ['d', 'c'],
      hash: expect.any(Number),
    });
    const snapshot = await backend.snapshot();
    release();
    await committing;
    spy.mockRestore();
    // Same answers once the batch is in LevelDB, and after the pending one too.
    expect(await view()).toEqual(during);
    await backend.commit();
    expect(await view()).toEqual(during);

    const copy = await LevelBackend.open(path());
    await copy.restore(snapshot.chunks());
    await snapshot.close();
    expect((await copy.range('key', b(''), undefined)).map((e) => text(e.value))).toEqual([
      'committing',
      'pending',
      'pending',
    ]);
    await Promise.all([backend.close(), copy.close()]);
  });
});

describe('a failed commit', () => {
  it('rejects with BACKEND_WRITE_FAILED, keeps the batch readable and refuses further writes', async () => {
    const p = path();
    const backend = await LevelBackend.open(p, { batchInterval: 60_000 });
    backend.put('key', b('before'), b('1'));
    await backend.commit();
    const spy = interceptNextBatchWrite(() => Promise.reject(new Error('injected: disk full')));
    backend.put('key', b('lost'), b('2'));
    const err = await rejection(backend.commit());
    spy.mockRestore();
    expect(err.code).toBe('BACKEND_WRITE_FAILED');
    expect((err.cause as Error).message).toBe('injected: disk full');
    expect(text(await backend.get('key', b('lost')))).toBe('2');
    expect(() => backend.put('key', b('more'), b('3'))).toThrow(
      expect.objectContaining({ code: 'BACKEND_WRITE_FAILED' }),
    );
    expect((await rejection(backend.commit())).code).toBe('BACKEND_WRITE_FAILED');
    await backend.close();
    const reopened = await LevelBackend.open(p);
    expect(text(await reopened.get('key', b('before')))).toBe('1');
    expect(await reopened.get('key', b('lost'))).toBeUndefined();
    await reopened.close();
  });
});

describe('snapshots and the commit in flight', () => {
  it('a snapshot taken while a commit is in flight contains that commit and the pending writes', async () => {
    const source = await LevelBackend.open(path(), { batchInterval: 60_000 });
    for (let i = 0; i < 1000; i++)
      source.put('key', b(`c${String(i).padStart(4, '0')}`), b('committing'));
    const committing = source.commit();
    source.put('key', b('p'), b('pending'));
    source.delete('key', b('c0000'));
    expect(source.stats().committingWrites).toBe(1000);
    const snapshot = await source.snapshot();
    source.put('key', b('after'), b('not in snapshot'));
    await committing;
    const chunks = await collect(snapshot.chunks());
    await snapshot.close();
    const target = await LevelBackend.open(path());
    await target.restore(streamOf(chunks));
    const keys = (await target.range('key', b(''), undefined)).map((e) => text(e.key));
    expect(keys.length).toBe(1000);
    expect(keys[0]).toBe('c0001');
    expect(keys).toContain('p');
    expect(keys).not.toContain('after');
    await Promise.all([source.close(), target.close()]);
  });
});

describe('restore', () => {
  it('swaps databases while a snapshot of the old one is still being read', async () => {
    const p = path();
    const backend = await LevelBackend.open(p, { snapshotChunkSize: 1024 });
    for (let i = 0; i < 2000; i++)
      backend.put('key', b(`old${String(i).padStart(4, '0')}`), b('o'.repeat(20)));
    await backend.commit();
    const old = await backend.snapshot();
    const oldStream = old.chunks()[Symbol.asyncIterator]();
    const first = await oldStream.next();
    expect(first.done).toBe(false);

    const other = await LevelBackend.open(path());
    other.put('lease', b('new'), b('n'));
    const fresh = await other.snapshot();
    await backend.restore(fresh.chunks());
    await fresh.close();
    await other.close();
    expect(await backend.get('key', b('old0000'))).toBeUndefined();
    expect(text(await backend.get('lease', b('new')))).toBe('n');
    // The old database is retired but stays readable for its snapshot.
    expect(readdirSync(p).sort()).toEqual(['ACTIVE', 'db-000001', 'db-000002', 'lock']);
    const rest: Uint8Array[] = [first.value as Uint8Array];
    for (let next = await oldStream.next(); next.done !== true; next = await oldStream.next())
      rest.push(next.value);
    await old.close();
    expect(readdirSync(p).sort()).toEqual(['ACTIVE', 'db-000002', 'lock']);

    const copy = await LevelBackend.open(path());
    await copy.restore(streamOf(rest));
    expect((await copy.range('key', b(''), undefined)).length).toBe(2000);
    await copy.close();
    await backend.close();

    const reopened = await LevelBackend.open(p);
    expect(text(await reopened.get('lease', b('new')))).toBe('n');
    await reopened.close();
  });

  it('discards the writes buffered when the swap happens; later ones reach the new database', async () => {
    const p = path();
    const backend = await LevelBackend.open(p, { batchInterval: 60_000 });
    const other = await LevelBackend.open(path());
    other.put('lease', b('new'), b('n'));
    const fresh = await other.snapshot();
    // Buffered, and already in a LevelDB batch of the database about to be replaced.
    backend.put('key', b('buffered'), b('x'));
    await backend.restore(fresh.chunks());
    await fresh.close();
    await other.close();
    expect(await backend.get('key', b('buffered'))).toBeUndefined();
    backend.put('key', b('after'), b('y'));
    await backend.commit();
    await backend.close();
    const reopened = await LevelBackend.open(p);
    expect(await reopened.get('key', b('buffered'))).toBeUndefined();
    expect(text(await reopened.get('key', b('after')))).toBe('y');
    expect(text(await reopened.get('lease', b('new')))).toBe('n');
    await reopened.close();
  });

  it('a rejected stream leaves no directory behind and discards nothing', async () => {
    const p = path();
    const backend = await LevelBackend.open(p);
    backend.put('key', b('k'), b('v'));
    const err = await rejection(backend.restore(streamOf([b('KVSNAP01'), new Uint8Array([1, 3])])));
    expect(err.code).toBe('BACKEND_SNAPSHOT_CORRUPT');
    expect(readdirSync(p).sort()).toEqual(['ACTIVE', 'db-000001', 'lock']);
    expect(text(await backend.get('key', b('k')))).toBe('v');
    const unknown = await rejection(backend.restore(streamOf([kvsnap('nobucket')])));
    expect(unknown.message).toMatch(/unknown bucket/);
    await backend.close();
  });
});

describe('defragment', () => {
  it('reclaims the space of deleted data and keeps the rest', async () => {
    const backend = await LevelBackend.open(path(), { writeBufferSize: 256 * 1024 });
    // Incompressible values, so sizes do not depend on whether data sits in the log or in tables.
    const values = Array.from({ length: 3000 }, () => randomBytes(2000));
    for (let i = 0; i < 3000; i++)
      backend.put('key', b(`k${String(i).padStart(5, '0')}`), values[i]!);
    await backend.commit();
    for (let i = 0; i < 3000; i++)
      if (i % 100 !== 0) backend.delete('key', b(`k${String(i).padStart(5, '0')}`));
    const { before, after } = await backend.defragment();
    expect(before.total).toBeGreaterThan(3000 * 2000 * 0.9);
    expect(after.total).toBeLessThan(before.total / 4);
    const left = await backend.range('key', b(''), undefined);
    expect(
      left.map((e) => Buffer.compare(e.value, values[Number(text(e.key)!.slice(1))]!)),
    ).toEqual(new Array(30).fill(0));
    await backend.close();
  });
});

// A valid one-record KVSNAP01 stream for `bucket`, checksummed independently of the package.
function kvsnap(bucket: string): Uint8Array {
  const body = [...b('KVSNAP01'), 0x01, bucket.length, ...b(bucket), 1, 0x6b, 1, 0x76];
  let c = 0xffffffff;
  for (const byte of body) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  c = ~c >>> 0;
  return new Uint8Array([...body, 0xff, c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff]);
}

describe('synced commits', () => {
  it('commit({ sync: true }) turns the memtable into a table on disk, so no unsynced log holds a write', async () => {
    const dir = path();
    const backend = await LevelBackend.open(dir, { batchInterval: 60_000 });
    const files = (suffix: string): { name: string; size: number }[] =>
      (readdirSync(dir, { recursive: true }) as string[])
        .filter((f) => f.endsWith(suffix))
        .map((f) => ({ name: f, size: statSync(join(dir, f)).size }));
    try {
      for (let i = 0; i < 100; i++) backend.put('key', b(`k${i}`), randomBytes(100));
      await backend.commit();
      // In the memtable and its log only.
      const tablesBefore = files('.ldb').length;
      expect(files('.log').some((f) => f.size > 10_000)).toBe(true);
      await backend.commit({ sync: true });
      expect(files('.ldb').length).toBe(tablesBefore + 1);
      // The log that held the writes is gone; the current one holds nothing.
      expect(files('.log').every((f) => f.size < 1_000)).toBe(true);
      expect((await backend.range('key', b(''), undefined)).length).toBe(100);
    } finally {
      await backend.close();
    }
  });

  it('commit({ sync: true }) ends with a synced LevelDB write, and leaves no key behind', async () => {
    const backend = await LevelBackend.open(path(), { batchInterval: 60_000 });
    const dels = vi.spyOn(ClassicLevel.prototype, 'del');
    const batches = vi.spyOn(ClassicLevel.prototype, 'batch');
    try {
      backend.put('key', b('a'), b('1'));
      await backend.commit();
      expect(dels).not.toHaveBeenCalled();
      backend.put('key', b('b'), b('2'));
      await backend.commit({ sync: true });
      expect(dels).toHaveBeenCalledTimes(1);
      expect(dels.mock.calls[0]![1]).toEqual({ sync: true });
      // The buffered write was committed before the synced write.
      expect(batches.mock.invocationCallOrder.at(-1)!).toBeLessThan(
        dels.mock.invocationCallOrder[0]!,
      );
      // Nothing buffered: the synced write still happens.
      await backend.commit({ sync: true });
      expect(dels).toHaveBeenCalledTimes(2);
    } finally {
      dels.mockRestore();
      batches.mockRestore();
    }
    const snap = await backend.snapshot();
    const restored = await LevelBackend.open(path(), {});
    await restored.restore(snap.chunks());
    await snap.close();
    expect((await restored.range('key', b(''), undefined)).map((e) => text(e.key))).toEqual([
      'a',
      'b',
    ]);
    await restored.close();
    await backend.close();
  });
});

describe('synced restore', () => {
  it("writes the restored database's last batch with sync before it becomes the live one", async () => {
    const source = await LevelBackend.open(path(), {});
    for (let i = 0; i < 50; i++) source.put('key', b(`k${i}`), b(`v${i}`));
    await source.commit();
    const snap = await source.snapshot();
    const target = await LevelBackend.open(path(), {});
    // Chained batches are classic-level's own class: find it through one.
    const probe = new ClassicLevel<Buffer, Buffer>(path(), {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    await probe.open();
    const chained = probe.batch();
    const writes = vi.spyOn(
      Object.getPrototypeOf(chained) as { write: () => Promise<void> },
      'write',
    );
    await chained.close();
    await probe.close();
    try {
      await target.restore(snap.chunks());
      expect(writes).toHaveBeenCalled();
      expect(writes.mock.calls.at(-1)).toEqual([{ sync: true }]);
    } finally {
      writes.mockRestore();
    }
    await snap.close();
    expect(text(await target.get('key', b('k49')))).toBe('v49');
    await target.close();
    await source.close();
  });
});
