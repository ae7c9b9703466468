// Kill -9 in the middle of a save loop: every save that had resolved must be
// there afterwards, and the log must reopen (torn tail repaired, stale lock
// taken over) and go on.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Wal } from '../src/index';
import { payload, segmentFiles, tempDir } from './helpers';

const FIXTURE = fileURLToPath(new URL('./fixtures/save-loop.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  acked: number[];
  ready: Promise<number>;
  exited: Promise<void>;
  /** Resolves once at least n saves have been acknowledged. */
  ackedAtLeast(n: number): Promise<void>;
}

function startChild(dir: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acked: number[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let readyResolve: (n: number) => void = () => {};
  const ready = new Promise<number>((r) => (readyResolve = r));
  let buffered = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('ready ')) readyResolve(Number(line.slice(6)));
      else acked.push(Number(line));
    }
    for (const w of waiters.splice(0)) {
      if (acked.length >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<void>((resolve, reject) => {
    proc.on('exit', () => resolve());
    proc.on('error', reject);
  });
  return {
    proc,
    acked,
    ready,
    exited,
    ackedAtLeast: (n) =>
      new Promise<void>((resolve) => {
        if (acked.length >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

describe('crash safety', () => {
  it('keeps every resolved save across SIGKILLs in the middle of a save loop', async () => {
    const dir = await tempDir('wal-crash-');
    let expectedNext = 1;
    let allAcked = 0;
    // Varied kill points; each round continues the same log.
    for (const target of [150, 523, 71, 977]) {
      const child = startChild(dir);
      expect(await child.ready).toBe(expectedNext);
      if (expectedNext === 1) {
        // While the child holds the WAL, nobody else may open it.
        await expect(Wal.open(dir, { index: 0, term: 0 })).rejects.toMatchObject({
          code: 'WAL_LOCKED',
        });
      }
      await child.ackedAtLeast(target);
      child.proc.kill('SIGKILL');
      await child.exited;
      const maxAcked = Math.max(...child.acked);

      const w = await Wal.open(dir, { index: 0, term: 0 });
      const { entries, hardState } = await w.readAll();
      await w.close();
      // Contiguous from 1, every acknowledged index present with its exact payload.
      expect(entries.length).toBeGreaterThanOrEqual(maxAcked);
      entries.forEach((e, k) => {
        expect(e.index).toBe(k + 1);
        expect(Buffer.from(e.data).equals(Buffer.from(payload(e.index, 1)))).toBe(true);
      });
      expect(hardState!.commit).toBeGreaterThanOrEqual(maxAcked - 1);
      allAcked += child.acked.length;
      expectedNext = entries.length + 1;
    }
    expect(allAcked).toBeGreaterThanOrEqual(150 + 523 + 71 + 977);
    // The loop crossed segment cuts.
    expect((await segmentFiles(dir)).length).toBeGreaterThan(3);
  }, 60_000);
});
