import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock';
import { Compactor, parseRetention } from './compactor';

function target(): {
  rev: number;
  compacted: number;
  calls: number[];
  isLeader: boolean;
  currentRevision(): number;
  compactedRevision(): number;
  compact(r: number): Promise<void>;
} {
  return {
    rev: 1,
    compacted: 0,
    calls: [],
    isLeader: true,
    currentRevision() {
      return this.rev;
    },
    compactedRevision() {
      return this.compacted;
    },
    async compact(r: number) {
      this.calls.push(r);
      this.compacted = r;
    },
  };
}

describe('auto-compaction', () => {
  it('parses etcd retention values', () => {
    expect(parseRetention('periodic', '1')).toBe(3600_000);
    expect(parseRetention('periodic', '1h30m')).toBe(5400_000);
    expect(parseRetention('periodic', '0')).toBe(0);
    expect(parseRetention('revision', '1000')).toBe(1000);
    expect(() => parseRetention('periodic', 'soon')).toThrow(/invalid auto-compaction-retention/);
    expect(() => parseRetention('revision', '1h')).toThrow(/number of revisions/);
  });

  it('periodic mode compacts to the revision seen one retention ago', () => {
    const clock = new ManualClock();
    const t = target();
    const c = new Compactor(t, clock, 'periodic', 10_000);
    c.start();
    for (let i = 0; i < 30; i++) {
      t.rev += 5;
      clock.advance(1000);
    }
    // Samples every 1 s; after 30 s the newest sample older than 10 s is from t=20 s.
    expect(t.calls.length).toBeGreaterThan(0);
    expect(t.compacted).toBe(1 + 5 * 20);
    c.stop();
  });

  it('revision mode keeps the last N revisions, on the leader only', () => {
    const clock = new ManualClock();
    const t = target();
    const c = new Compactor(t, clock, 'revision', 100, 1000);
    c.start();
    t.rev = 350;
    clock.advance(1000);
    expect(t.compacted).toBe(250);
    t.isLeader = false;
    t.rev = 900;
    clock.advance(1000);
    expect(t.compacted).toBe(250);
    c.stop();
  });
});
