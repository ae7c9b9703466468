import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../memory-backend';
import { MvccError } from '../errors';
import { MvccStore } from '../store';
import type { MvccEvent } from '../types';
import type { WatchResponse } from './stream';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function put(s: MvccStore, key: string): void {
  const t = s.write();
  t.put(enc(key), enc(`v${s.currentRevision() + 1}`), 0n);
  t.end();
}

const show = (r: WatchResponse): string =>
  `${r.watchId}:${r.events
    .map(
      (e: MvccEvent) =>
        `${dec(e.kv.key)}@${e.kv.modRevision}${e.prevKv ? `<${dec(e.prevKv.value)}` : ''}`,
    )
    .join(',')}`;

describe('WatchStream.nextBatch', () => {
  it('takes every queued response in order, at most max at a time, then waits for more', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    const ws = s.watchStream();
    const a = ws.watch({ key: enc('a') });
    const all = ws.watch({ key: enc('a'), end: enc('c') });
    put(s, 'a'); // 2
    put(s, 'b'); // 3
    put(s, 'a'); // 4
    expect((await ws.nextBatch(3))!.map(show)).toEqual([`${a}:a@2`, `${all}:a@2`, `${all}:b@3`]);
    expect((await ws.nextBatch(10))!.map(show)).toEqual([`${a}:a@4`, `${all}:a@4`]);
    const next = ws.nextBatch(10);
    put(s, 'b'); // 5
    expect((await next)!.map(show)).toEqual([`${all}:b@5`]);
    ws.close();
    expect(await ws.nextBatch(10)).toBeUndefined();
    await expect(ws.nextBatch(0)).rejects.toThrow(MvccError);
    await s.close();
  });

  it('attaches previous key-values for prevKv watchers only, keeping the order', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    put(s, 'a'); // 2
    const ws = s.watchStream();
    const plain = ws.watch({ key: enc('a') });
    const prev = ws.watch({ key: enc('a'), prevKv: true });
    put(s, 'a'); // 3
    put(s, 'a'); // 4
    expect((await ws.nextBatch(10))!.map(show)).toEqual([
      `${plain}:a@3`,
      `${prev}:a@3<v2`,
      `${plain}:a@4`,
      `${prev}:a@4<v3`,
    ]);
    ws.close();
    await s.close();
  });

  it('lets set-aside watchers resume once a batch makes room, without loss', async () => {
    const s = await MvccStore.open(new MemoryBackend(), { watchBufferSize: 2 });
    const ws = s.watchStream();
    const id = ws.watch({ key: enc('k') });
    for (let i = 0; i < 7; i++) put(s, 'k'); // 2..8; the buffer holds two
    expect(s.watcherCounts().victims).toBe(1);
    const revs: number[] = [];
    while (revs.length < 7) {
      const batch = (await ws.nextBatch(100))!;
      for (const r of batch) {
        expect(r.watchId).toBe(id);
        for (const e of r.events) revs.push(e.kv.modRevision);
      }
    }
    expect(revs).toEqual([2, 3, 4, 5, 6, 7, 8]);
    ws.close();
    await s.close();
  });
});
