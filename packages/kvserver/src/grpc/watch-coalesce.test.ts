import { describe, expect, it } from 'vitest';
import { EventType } from '@kv/mvcc';
import type { MvccEvent, WatchResponse } from '@kv/mvcc';
import { coalesceWatchResponses } from './watch-coalesce';

function put(key: string, rev: number, value = 'v'): MvccEvent {
  return {
    type: EventType.Put,
    kv: {
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: rev,
      modRevision: rev,
      version: 1,
      lease: 0n,
    },
  };
}

function events(watchId: number, rev: number, key = 'k'): WatchResponse {
  return { watchId, events: [put(key, rev)], revision: rev };
}

/** Per watcher: the revisions of its events, in the order the client gets them. */
function perWatcher(rs: readonly WatchResponse[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of rs) {
    const list = m.get(r.watchId) ?? [];
    for (const e of r.events) list.push(e.kv.modRevision);
    m.set(r.watchId, list);
  }
  return m;
}

describe('coalesceWatchResponses', () => {
  it('joins each watcher’s responses of a burst into one, keeping its order and last revision', () => {
    const batch = [events(0, 5), events(1, 5), events(0, 6), events(1, 6), events(0, 7)];
    const out = coalesceWatchResponses(batch);
    expect(out).toHaveLength(2);
    expect(out.map((r) => [r.watchId, r.revision])).toEqual([
      [0, 7],
      [1, 6],
    ]);
    expect(perWatcher(out)).toEqual(perWatcher(batch));
  });

  it('does not change the arrays it was given (the MVCC layer may share them)', () => {
    const shared = [put('k', 5)];
    const batch: WatchResponse[] = [
      { watchId: 0, events: shared, revision: 5 },
      { watchId: 1, events: shared, revision: 5 },
      events(0, 6),
    ];
    coalesceWatchResponses(batch);
    expect(shared).toHaveLength(1);
    expect(batch[0]!.events).toBe(shared);
  });

  it('moves nothing across a progress notification or a cancellation', () => {
    const progress: WatchResponse = { watchId: -1, events: [], revision: 6 };
    const cancel: WatchResponse = { watchId: 1, events: [], revision: 7, canceled: true };
    const batch = [events(0, 5), events(1, 5), progress, events(0, 7), cancel, events(0, 8)];
    const out = coalesceWatchResponses(batch);
    expect(out).toEqual(batch);
  });

  it('starts a new response for a watcher once the joined one reaches the size limit', () => {
    const big = (rev: number): WatchResponse => ({
      watchId: 0,
      events: [put('k', rev, 'x'.repeat(100))],
      revision: rev,
    });
    const out = coalesceWatchResponses([big(1), big(2), big(3), big(4)], 250);
    expect(out.map((r) => r.events.map((e) => e.kv.modRevision))).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(out.map((r) => r.revision)).toEqual([2, 4]);
  });
});
