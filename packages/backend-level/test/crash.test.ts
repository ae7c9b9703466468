import { spawn } from 'node:child_process';
import {
  cpSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LevelBackend } from '../src/index';
import { b, tempPaths, text } from './helpers';

const path = tempPaths('crash');
const fixture = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const BATCH = 400;
const LONG = process.env['LONG_TESTS'] === '1';

/** Run the writer until it has acknowledged `acks` commits, then SIGKILL it; returns the last acknowledged batch. */
function runAndKill(dir: string, acks: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(BATCH)], {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = 0;
    let lastAck = -1;
    let pendingLine = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const lines = (pendingLine + d.toString()).split('\n');
      pendingLine = lines.pop() ?? '';
      for (const line of lines) {
        lastAck = Number(line);
        if (++seen === acks) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lastAck);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('crash during batched commits', () => {
  it('after SIGKILL every batch is all-or-nothing and every acknowledged batch is there', async () => {
    const dir = path();
    let acknowledged = -1;
    for (const acks of [3, 7, 2]) {
      acknowledged = Math.max(acknowledged, await runAndKill(dir, acks));
      const backend = await LevelBackend.open(dir);
      const last = Number(text(await backend.get('meta', b('last'))));
      expect(last).toBeGreaterThanOrEqual(acknowledged);
      const counts = new Map<number, number>();
      for (const { key, value } of await backend.range('key', b(''), undefined)) {
        const batch = Number(/^b(\d+)\//.exec(text(key)!)![1]);
        expect(value[0]).toBe(batch & 0xff);
        counts.set(batch, (counts.get(batch) ?? 0) + 1);
      }
      // Batches 0..last complete, nothing beyond: no half-applied batch.
      expect([...counts.keys()].sort((x, y) => x - y)).toEqual(
        Array.from({ length: last + 1 }, (_, i) => i),
      );
      for (const count of counts.values()) expect(count).toBe(BATCH);
      await backend.close();
    }
  }, 60_000);
});

describe('crash during restore', () => {
  const restorer = fileURLToPath(new URL('./fixtures/crash-restorer.ts', import.meta.url));

  // Run the restorer; SIGKILL it when it reports chunk `killAt` (never, if past the end).
  function restoreAndKill(
    target: string,
    source: string,
    killAt: number,
  ): Promise<'killed' | 'done'> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', restorer, target, source], {
        cwd: packageDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(`chunk ${killAt}\n`)) child.kill('SIGKILL');
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (signal === 'SIGKILL') resolve('killed');
        else if (code === 0 && out.includes('done')) resolve('done');
        else reject(new Error(`restorer exited with ${code}: ${stderr}`));
      });
    });
  }

  async function contents(dir: string): Promise<string[]> {
    const backend = await LevelBackend.open(dir);
    try {
      const out: string[] = [];
      for (const bucket of ['key', 'lease'] as const) {
        for (const e of await backend.range(bucket, b(''), undefined))
          out.push(`${bucket}/${text(e.key)}`);
      }
      return out;
    } finally {
      await backend.close();
    }
  }

  it('after SIGKILL at any point the backend holds all old or all new data', async () => {
    const source = path();
    const src = await LevelBackend.open(source);
    for (let i = 0; i < 3000; i++)
      src.put('key', b(`new${String(i).padStart(4, '0')}`), new Uint8Array(200).fill(1));
    src.put('lease', b('new-lease'), b('x'));
    await src.close();
    const newContents = await contents(source);

    const outcomes: string[] = [];
    for (const killAt of [1, 20, 1000]) {
      const target = path();
      const old = await LevelBackend.open(target);
      for (let i = 0; i < 50; i++) old.put('key', b(`old${i}`), b('o'));
      await old.close();
      const oldContents = await contents(target);

      const outcome = await restoreAndKill(target, source, killAt);
      outcomes.push(outcome);
      // The stream has ~40 chunks: a kill at chunk 1 or 20 precedes the switch.
      expect(await contents(target)).toEqual(outcome === 'killed' ? oldContents : newContents);
      // Leftovers of the interrupted restore were removed at open.
      expect(readdirSync(target).filter((f) => f.startsWith('db-')).length).toBe(1);
    }
    // The last round ran to completion: the new data is there.
    expect(outcomes).toEqual(['killed', 'killed', 'done']);
  }, 60_000);
});

describe('torn and damaged LevelDB log', () => {
  const BATCHES = 20;
  const PER_BATCH = 50;

  // Commit BATCHES batches (each PER_BATCH keys + meta "last") and close: they stay in the LevelDB log.
  async function writeBatches(dir: string): Promise<string> {
    const backend = await LevelBackend.open(dir, { batchInterval: 60_000 });
    const value = new Uint8Array(256);
    for (let batch = 0; batch < BATCHES; batch++) {
      value.fill(batch);
      for (let j = 0; j < PER_BATCH; j++) backend.put('key', b(`b${batch}/${j}`), value.slice());
      backend.put('meta', b('last'), b(String(batch)));
      await backend.commit();
    }
    await backend.close();
    const log = readdirSync(join(dir, 'db-000001')).find((f) => f.endsWith('.log'));
    return join(dir, 'db-000001', log!);
  }

  // Batch numbers present, each checked complete. Throws if any batch is partial.
  async function batchesIn(dir: string): Promise<number[]> {
    const backend = await LevelBackend.open(dir);
    try {
      const counts = new Map<number, number>();
      for (const { key } of await backend.range('key', b(''), undefined)) {
        const batch = Number(/^b(\d+)\//.exec(text(key)!)![1]);
        counts.set(batch, (counts.get(batch) ?? 0) + 1);
      }
      for (const [batch, count] of counts)
        expect(`batch ${batch}: ${count}`).toBe(`batch ${batch}: ${PER_BATCH}`);
      return [...counts.keys()].sort((x, y) => x - y);
    } finally {
      await backend.close();
    }
  }

  it(
    'a log cut at any offset recovers a prefix of whole batches',
    async () => {
      const original = path();
      const log = await writeBatches(original);
      const length = statSync(log).size;
      let previous = -1;
      // 40 cuts spread over the log with an odd stride, so they fall inside record
      // headers, payloads and block trailers, plus the very end. LONG_TESTS=1 cuts every 97th byte.
      const stride = LONG ? 97 : Math.floor(length / 40) | 1;
      const cuts = [
        ...Array.from({ length: Math.floor(length / stride) }, (_, i) => i * stride),
        length - 1,
        length,
      ];
      for (const cut of cuts) {
        const copy = path();
        cpSync(original, copy, { recursive: true });
        truncateSync(join(copy, relative(original, log)), cut);
        const present = await batchesIn(copy);
        expect(present).toEqual(Array.from({ length: present.length }, (_, i) => i));
        expect(present.length).toBeGreaterThanOrEqual(previous);
        previous = present.length;
        rmSync(copy, { recursive: true, force: true });
      }
      expect(previous).toBe(BATCHES);
    },
    LONG ? 1_800_000 : 60_000,
  );

  it('a flipped bit in the log loses whole batches only', async () => {
    const original = path();
    const log = await writeBatches(original);
    const length = statSync(log).size;
    for (let i = 1; i <= 12; i++) {
      const copy = path();
      cpSync(original, copy, { recursive: true });
      const target = join(copy, relative(original, log));
      const bytes = readFileSync(target);
      const at = Math.floor((length * i) / 13);
      bytes[at]! ^= 1 << (i % 8);
      writeFileSync(target, bytes);
      const present = await batchesIn(copy);
      expect(present.length).toBeLessThan(BATCHES);
      rmSync(copy, { recursive: true, force: true });
    }
  }, 60_000);
});
