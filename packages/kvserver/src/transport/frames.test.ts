import { describe, expect, it } from 'vitest';
import { FrameReader, FrameType, encodeFrame } from './frames';

describe('peer frames', () => {
  it('reassembles frames split and merged at every byte boundary', () => {
    const a = encodeFrame(FrameType.RaftMessage, Buffer.from('hello'));
    const b = encodeFrame(FrameType.SnapshotChunk, Buffer.alloc(300, 7));
    const c = encodeFrame(FrameType.SnapshotEnd, Buffer.alloc(0));
    const all = Buffer.concat([a, b, c]);
    for (let cut = 0; cut <= all.length; cut++) {
      const reader = new FrameReader();
      const frames = [...reader.push(all.subarray(0, cut)), ...reader.push(all.subarray(cut))];
      expect(frames.map((f) => f.type)).toEqual([
        FrameType.RaftMessage,
        FrameType.SnapshotChunk,
        FrameType.SnapshotEnd,
      ]);
      expect(Buffer.from(frames[0]!.payload).toString()).toBe('hello');
      expect(frames[1]!.payload.length).toBe(300);
      expect(frames[2]!.payload.length).toBe(0);
    }
  });

  it('rejects an absurd frame length', () => {
    const reader = new FrameReader();
    const bad = Buffer.alloc(5);
    bad.writeUInt32BE(0xffffffff, 0);
    expect(() => reader.push(bad)).toThrow(/invalid length/);
  });
});
