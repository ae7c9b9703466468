/**
 * The conformance suite for {@link Backend} implementations, in the manner of
 * abstract-level's exported test suite: an implementation runs it with one
 * call from a test file, passing vitest's `test`, `describe` and `expect`
 * (so this module has no runtime dependency on vitest).
 *
 * ```ts
 * import { describe, expect, test } from 'vitest';
 * backendSuite({ name: 'MyBackend', open: () => MyBackend.open(tmp()), test, describe, expect });
 * ```
 *
 * Two definitions here are shared by every backend, so that numbers and
 * streams agree across implementations:
 *
 * - hash(bucket) is the CRC-32C (Castagnoli) of key₁ ‖ value₁ ‖ key₂ ‖
 *   value₂ ‖ … over the bucket's entries in ascending bytewise key order
 *   (0 for an empty bucket).
 * - snapshot streams use the "KVSNAP01" format: the 8 ASCII bytes
 *   `KVSNAP01`, then per entry `0x01 varint(len) bucketName varint(len) key
 *   varint(len) value` (bucket name in UTF-8, varint = unsigned LEB128), then
 *   `0xFF` and the CRC-32C of every byte before the 0xFF as a big-endian u32.
 *   Nothing follows. Writers put buckets in a fixed order and keys ascending.
 */

import type { Backend, BackendEntry, BucketName } from '../backend';

/** The matchers the suite uses (vitest's `expect(x)` satisfies this). */
export interface BackendSuiteAssertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeUndefined(): void;
  toBeGreaterThan(expected: number): void;
  toBeGreaterThanOrEqual(expected: number): void;
  toBeLessThanOrEqual(expected: number): void;
  readonly not: BackendSuiteAssertion;
}

/** Options of {@link backendSuite}. */
export interface BackendSuiteOptions {
  /** Label of the describe block. */
  readonly name: string;
  /** A new, empty backend (fresh storage each call). */
  readonly open: () => Promise<Backend>;
  /** Close `backend` and open the same storage again; enables persistence checks. */
  readonly reopen?: (backend: Backend) => Promise<Backend>;
  /** vitest's `test` (or `it`). */
  readonly test: (name: string, fn: () => Promise<void>, timeout?: number) => void;
  /** vitest's `describe`. */
  readonly describe: (name: string, fn: () => void) => void;
  /** vitest's `expect`. */
  readonly expect: (actual: unknown) => BackendSuiteAssertion;
}

const ALL_BUCKETS: readonly BucketName[] = [
  'key',
  'meta',
  'lease',
  'auth',
  'authUsers',
  'authRoles',
  'members',
  'members_removed',
  'alarm',
  'cluster',
];

const utf8 = new TextEncoder();

/** Bytes of a string (UTF-8). */
function b(s: string): Uint8Array {
  return utf8.encode(s);
}

function hex(bytes: Uint8Array | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  let out = '';
  for (const x of bytes) out += x.toString(16).padStart(2, '0');
  return out;
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

function pairs(entries: readonly BackendEntry[]): [string, string][] {
  return entries.map((e) => [text(e.key)!, text(e.value)!]);
}

/** Bitwise reference CRC-32C, independent of any implementation's tables. */
function crc32cReference(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Every bucket's contents as hex pairs, for whole-backend equality. */
async function dump(backend: Backend): Promise<Record<string, [string, string][]>> {
  const out: Record<string, [string, string][]> = {};
  for (const bucket of ALL_BUCKETS) {
    const entries = await backend.range(bucket, new Uint8Array(0), undefined);
    out[bucket] = entries.map((e) => [hex(e.key)!, hex(e.value)!]);
  }
  return out;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  // Copy: a producer may hand out views of memory it later reuses.
  for await (const c of chunks) out.push(c.slice());
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* streamOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

/** Reference decoder of the KVSNAP01 format; throws on any defect. */
function decodeKvsnap01(all: Uint8Array): { bucket: string; key: string; value: string }[] {
  const magic = b('KVSNAP01');
  if (all.length < magic.length + 5) throw new Error('too short');
  for (let i = 0; i < magic.length; i++) if (all[i] !== magic[i]) throw new Error('bad magic');
  const body = all.length - 5;
  if (all[body] !== 0xff) throw new Error('no trailer');
  const want =
    ((all[body + 1]! << 24) | (all[body + 2]! << 16) | (all[body + 3]! << 8) | all[body + 4]!) >>>
    0;
  if (crc32cReference(0, all.subarray(0, body)) !== want) throw new Error('checksum');
  let pos = magic.length;
  const field = (): Uint8Array => {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (pos >= body) throw new Error('truncated');
      const x = all[pos++]!;
      n += (x & 0x7f) * scale;
      if (x < 0x80) break;
      scale *= 128;
    }
    if (pos + n > body) throw new Error('truncated');
    const out = all.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const out: { bucket: string; key: string; value: string }[] = [];
  while (pos < body) {
    if (all[pos++] !== 0x01) throw new Error('unknown record');
    const bucket = text(field())!;
    out.push({ bucket, key: hex(field())!, value: hex(field())! });
  }
  return out;
}

/** Reference encoder of the KVSNAP01 format. */
function encodeKvsnap01(
  records: readonly { bucket: string; key: Uint8Array; value: Uint8Array }[],
): Uint8Array {
  const parts: number[] = [...b('KVSNAP01')];
  const field = (bytes: Uint8Array): void => {
    let n = bytes.length;
    while (n >= 0x80) {
      parts.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 0x80);
    }
    parts.push(n, ...bytes);
  };
  for (const r of records) {
    parts.push(0x01);
    field(b(r.bucket));
    field(r.key);
    field(r.value);
  }
  const crc = crc32cReference(0, new Uint8Array(parts));
  parts.push(0xff, crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff);
  return new Uint8Array(parts);
}

/** Deterministic PRNG (xorshift32) so a failing sequence replays exactly. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/**
 * Register the conformance tests for one Backend implementation.
 */
export function backendSuite(options: BackendSuiteOptions): void {
  const { test, describe, expect, open, reopen } = options;

  // Run `fn` on a fresh backend and close it afterwards (fn may replace it via reopen).
  const withBackend =
    (fn: (backend: Backend) => Promise<Backend | void>) => async (): Promise<void> => {
      let backend = await open();
      try {
        const replaced = await fn(backend);
        if (replaced !== undefined) backend = replaced;
      } finally {
        await backend.close();
      }
    };

  const expectRejects = async (action: () => Promise<unknown>): Promise<void> => {
    let rejected = false;
    try {
      await action();
    } catch {
      rejected = true;
    }
    expect(rejected).toBe(true);
  };

  describe(`backend conformance: ${options.name}`, () => {
    describe('buckets', () => {
      test(
        'the same key in different buckets holds different values',
        withBackend(async (be) => {
          be.put('key', b('k'), b('in key'));
          be.put('meta', b('k'), b('in meta'));
          be.put('lease', b('\xff'), b('lease high'));
          be.put('alarm', new Uint8Array([0]), b('alarm low'));
          expect(text(await be.get('key', b('k')))).toBe('in key');
          expect(text(await be.get('meta', b('k')))).toBe('in meta');
          expect(await be.get('auth', b('k'))).toBeUndefined();
          await be.commit();
          expect(text(await be.get('key', b('k')))).toBe('in key');
          expect(text(await be.get('meta', b('k')))).toBe('in meta');
          be.delete('meta', b('k'));
          expect(text(await be.get('key', b('k')))).toBe('in key');
          expect(await be.get('meta', b('k'))).toBeUndefined();
        }),
      );

      test(
        'a full range never crosses into a neighbouring bucket',
        withBackend(async (be) => {
          for (const bucket of ALL_BUCKETS) {
            be.put(bucket, new Uint8Array([0]), b(`${bucket}-low`));
            be.put(bucket, new Uint8Array([0xff, 0xff]), b(`${bucket}-high`));
          }
          await be.commit();
          be.put('members', new Uint8Array([0x7f]), b('members-mid'));
          for (const bucket of ALL_BUCKETS) {
            const forward = await be.range(bucket, new Uint8Array(0), undefined);
            const expected = [
              `${bucket}-low`,
              ...(bucket === 'members' ? ['members-mid'] : []),
              `${bucket}-high`,
            ];
            expect(forward.map((e) => text(e.value))).toEqual(expected);
            const backward = await be.range(bucket, new Uint8Array(0), undefined, {
              reverse: true,
            });
            expect(backward.map((e) => text(e.value))).toEqual([...expected].reverse());
          }
        }),
      );
    });

    describe('reads see buffered writes', () => {
      test(
        'get, getMany and range see unflushed puts and deletes',
        withBackend(async (be) => {
          be.put('key', b('committed'), b('old'));
          be.put('key', b('doomed'), b('x'));
          await be.commit();
          be.put('key', b('committed'), b('new'));
          be.put('key', b('fresh'), b('f'));
          be.delete('key', b('doomed'));
          be.delete('key', b('never-existed'));
          expect(text(await be.get('key', b('committed')))).toBe('new');
          expect(text(await be.get('key', b('fresh')))).toBe('f');
          expect(await be.get('key', b('doomed'))).toBeUndefined();
          const many = await be.getMany('key', [
            b('fresh'),
            b('doomed'),
            b('committed'),
            b('nope'),
          ]);
          expect(many.map(text)).toEqual(['f', undefined, 'new', undefined]);
          expect(pairs(await be.range('key', b(''), undefined))).toEqual([
            ['committed', 'new'],
            ['fresh', 'f'],
          ]);
        }),
      );

      test(
        'ranges merge stored and buffered entries in key order, with reverse and limit',
        withBackend(async (be) => {
          for (const k of ['a', 'c', 'e', 'g', 'i']) be.put('key', b(k), b(`${k}0`));
          await be.commit();
          for (const k of ['b', 'd', 'f', 'h']) be.put('key', b(k), b(`${k}1`));
          be.delete('key', b('c'));
          be.put('key', b('e'), b('e1'));
          be.delete('key', b('i'));
          const all = ['a0', 'b1', 'd1', 'e1', 'f1', 'g0', 'h1'];
          const values = async (
            start: string,
            end: string | undefined,
            o?: { limit?: number; reverse?: boolean },
          ) =>
            (await be.range('key', b(start), end === undefined ? undefined : b(end), o)).map((e) =>
              text(e.value),
            );
          expect(await values('', undefined)).toEqual(all);
          expect(await values('', undefined, { reverse: true })).toEqual([...all].reverse());
          expect(await values('', undefined, { limit: 3 })).toEqual(['a0', 'b1', 'd1']);
          expect(await values('', undefined, { limit: 2, reverse: true })).toEqual(['h1', 'g0']);
          expect(await values('b', 'g')).toEqual(['b1', 'd1', 'e1', 'f1']);
          expect(await values('b', 'g', { reverse: true, limit: 3 })).toEqual(['f1', 'e1', 'd1']);
          expect(await values('c', 'd')).toEqual([]);
          expect(await values('g', 'b')).toEqual([]);
          expect(await values('', undefined, { limit: 0 })).toEqual(all);
        }),
      );

      test(
        'a limit is filled past buffered deletes of stored keys',
        withBackend(async (be) => {
          for (let i = 0; i < 20; i++)
            be.put('key', b(`k${String(i).padStart(2, '0')}`), b(String(i)));
          await be.commit();
          for (let i = 0; i < 10; i++) be.delete('key', b(`k${String(i).padStart(2, '0')}`));
          expect(
            (await be.range('key', b(''), undefined, { limit: 3 })).map((e) => text(e.value)),
          ).toEqual(['10', '11', '12']);
          for (let i = 19; i >= 15; i--) be.delete('key', b(`k${i}`));
          expect(
            (await be.range('key', b(''), undefined, { limit: 2, reverse: true })).map((e) =>
              text(e.value),
            ),
          ).toEqual(['14', '13']);
        }),
      );

      test(
        'random puts, deletes and commits agree with a model (seeded)',
        withBackend(async (be) => {
          for (const seed of [1, 2, 3]) {
            const rnd = prng(seed);
            const model = new Map<string, string>();
            const inflight: Promise<void>[] = [];
            for (let step = 0; step < 400; step++) {
              const key = `s${seed}-${String(rnd(40)).padStart(2, '0')}`;
              const r = rnd(10);
              if (r < 5) {
                const value = `v${step}`;
                be.put('key', b(key), b(value));
                model.set(key, value);
              } else if (r < 7) {
                be.delete('key', b(key));
                model.delete(key);
              } else if (r < 8) {
                // Not awaited: later reads and writes overlap the commit.
                inflight.push(be.commit());
              } else {
                const lo = `s${seed}-${String(rnd(40)).padStart(2, '0')}`;
                const reverse = rnd(2) === 1;
                const limit = rnd(4) * 3;
                let expected = [...model.entries()]
                  .filter(([k]) => k >= lo)
                  .sort(([x], [y]) => (x < y ? -1 : 1));
                if (reverse) expected.reverse();
                if (limit > 0) expected = expected.slice(0, limit);
                const got = await be.range('key', b(lo), b(`s${seed}.`), { reverse, limit });
                expect(pairs(got)).toEqual(expected);
                expect(text(await be.get('key', b(key)))).toBe(model.get(key));
              }
            }
            await Promise.all(inflight);
            await be.commit();
            const stored = await be.range('key', b(`s${seed}-`), b(`s${seed}.`));
            expect(pairs(stored)).toEqual(
              [...model.entries()].sort(([x], [y]) => (x < y ? -1 : 1)),
            );
          }
        }),
      );
    });

    describe('commit', () => {
      test(
        'reads during an in-flight commit see the whole batch, and later writes too',
        withBackend(async (be) => {
          const keys = Array.from({ length: 200 }, (_, i) =>
            b(`batch-${String(i).padStart(3, '0')}`),
          );
          for (const k of keys) be.put('key', k, b('1'));
          const committing = be.commit();
          be.put('key', b('after'), b('2'));
          // These reads overlap the commit: they must see all of it, never a part.
          const during = await be.getMany('key', keys);
          expect(during.every((v) => text(v) === '1')).toBe(true);
          expect((await be.range('key', b('batch-'), b('batch.'))).length).toBe(keys.length);
          expect(text(await be.get('key', b('after')))).toBe('2');
          await committing;
          expect((await be.range('key', b(''), undefined)).length).toBe(keys.length + 1);
          await be.commit();
          expect(text(await be.get('key', b('after')))).toBe('2');
        }),
      );

      test(
        'commit with nothing buffered resolves and changes nothing',
        withBackend(async (be) => {
          await be.commit();
          be.put('meta', b('ci'), b('7'));
          await be.commit();
          await be.commit();
          expect(text(await be.get('meta', b('ci')))).toBe('7');
        }),
      );
    });

    describe('snapshot and restore', () => {
      const fillSample = (be: Backend): void => {
        for (let i = 0; i < 300; i++)
          be.put('key', b(`k${String(i).padStart(4, '0')}`), b(`value-${i}`.repeat(3)));
        be.put('meta', b('consistent_index'), new Uint8Array([0, 0, 0, 0, 0, 0, 1, 44]));
        be.put('lease', new Uint8Array([0, 0, 0, 0, 0, 0, 0, 9]), new Uint8Array([8, 9]));
        be.put('members', b('8e9e05c52164694d'), b('{"id":1}'));
      };

      test(
        'restore of a snapshot reproduces every bucket and hash',
        withBackend(async (source) => {
          fillSample(source);
          await source.commit();
          be2Buffered(source);
          const snapshot = await source.snapshot();
          const chunks = await collect(snapshot.chunks());
          await snapshot.close();
          const target = await open();
          try {
            target.put('key', b('only-in-target'), b('gone after restore'));
            await target.commit();
            await target.restore(streamOf(...chunks));
            expect(await dump(target)).toEqual(await dump(source));
            expect(await target.get('key', b('only-in-target'))).toBeUndefined();
            for (const bucket of ALL_BUCKETS)
              expect(await target.hash(bucket)).toBe(await source.hash(bucket));
            // The restored backend is a normal backend: writes go on.
            target.put('key', b('k0000'), b('changed'));
            await target.commit();
            expect(text(await target.get('key', b('k0000')))).toBe('changed');
          } finally {
            await target.close();
          }
        }),
      );

      // Buffered, uncommitted writes must be in the snapshot too.
      function be2Buffered(be: Backend): void {
        be.put('alarm', b('nospace'), b('1'));
        be.delete('key', b('k0001'));
        be.put('key', b('k0002'), b('overwritten while buffered'));
      }

      test(
        'a snapshot is the state when it was taken, although writes continue',
        withBackend(async (source) => {
          fillSample(source);
          await source.commit();
          be2Buffered(source);
          const before = await dump(source);
          const snapshot = await source.snapshot();
          // Writes after the snapshot: committed, buffered, deletes and overwrites.
          for (let i = 0; i < 300; i += 3)
            source.delete('key', b(`k${String(i).padStart(4, '0')}`));
          source.put('key', b('k0004'), b('after'));
          source.put('cluster', b('version'), b('3.4.0'));
          const commit = source.commit();
          const chunks: Uint8Array[] = [];
          for await (const c of snapshot.chunks()) {
            chunks.push(c.slice());
            source.put('auth', b(`during-${chunks.length}`), b('x'));
          }
          await commit;
          await source.commit();
          await snapshot.close();
          const target = await open();
          try {
            await target.restore(streamOf(...chunks));
            expect(await dump(target)).toEqual(before);
            expect(text(await source.get('key', b('k0004')))).toBe('after');
            expect(await source.get('key', b('k0000'))).toBeUndefined();
          } finally {
            await target.close();
          }
        }),
      );

      test(
        'restore rejects damaged streams and keeps the old contents',
        withBackend(async (source) => {
          fillSample(source);
          const snapshot = await source.snapshot();
          const whole = concat(await collect(snapshot.chunks()));
          await snapshot.close();
          const target = await open();
          try {
            target.put('key', b('survivor'), b('still here'));
            target.put('meta', b('buffered'), b('too'));
            await target.commit();
            const expected = await dump(target);
            const flipped = whole.slice();
            flipped[Math.floor(flipped.length / 2)]! ^= 0x10;
            const damaged: [string, Uint8Array[]][] = [
              ['a flipped bit in the middle', [flipped]],
              ['the last byte missing', [whole.subarray(0, whole.length - 1)]],
              ['the trailer missing', [whole.subarray(0, whole.length - 5)]],
              ['only the first half', [whole.subarray(0, whole.length >> 1)]],
              ['garbage appended', [whole, new Uint8Array([1, 2, 3])]],
              ['not a snapshot', [b('definitely not a snapshot stream')]],
              ['empty', []],
            ];
            for (const [, parts] of damaged) {
              await expectRejects(() => target.restore(streamOf(...parts)));
              expect(await dump(target)).toEqual(expected);
            }
            // Still usable afterwards.
            target.put('key', b('later'), b('ok'));
            await target.commit();
            expect(text(await target.get('key', b('later')))).toBe('ok');
          } finally {
            await target.close();
          }
        }),
      );

      test(
        'restore accepts the stream split at every possible chunk boundary',
        withBackend(async (source) => {
          source.put('key', b('a'), b('1'));
          source.put('lease', b('bb'), b('22'));
          const snapshot = await source.snapshot();
          const whole = concat(await collect(snapshot.chunks()));
          await snapshot.close();
          const target = await open();
          try {
            for (let cut = 0; cut <= whole.length; cut++) {
              await target.restore(streamOf(whole.subarray(0, cut), whole.subarray(cut)));
              expect(text(await target.get('lease', b('bb')))).toBe('22');
            }
          } finally {
            await target.close();
          }
        }),
      );

      test(
        'snapshots use the shared KVSNAP01 format in both directions',
        withBackend(async (be) => {
          be.put('meta', b('m'), b('1'));
          be.put('key', b('b'), b('2'));
          be.put('key', b('a'), new Uint8Array(300).fill(7));
          await be.commit();
          be.put('key', b('c'), b('3'));
          const snapshot = await be.snapshot();
          const decoded = decodeKvsnap01(concat(await collect(snapshot.chunks())));
          await snapshot.close();
          const sorted = [...decoded].sort((x, y) =>
            x.bucket === y.bucket ? (x.key < y.key ? -1 : 1) : x.bucket < y.bucket ? -1 : 1,
          );
          expect(sorted).toEqual([
            { bucket: 'key', key: hex(b('a')), value: hex(new Uint8Array(300).fill(7)) },
            { bucket: 'key', key: hex(b('b')), value: hex(b('2')) },
            { bucket: 'key', key: hex(b('c')), value: hex(b('3')) },
            { bucket: 'meta', key: hex(b('m')), value: hex(b('1')) },
          ]);

          const foreign = encodeKvsnap01([
            { bucket: 'members', key: b('m1'), value: b('peer') },
            { bucket: 'key', key: b('z'), value: new Uint8Array(200).fill(1) },
            { bucket: 'key', key: b('y'), value: b('why') },
          ]);
          await be.restore(streamOf(foreign));
          expect(pairs(await be.range('key', b(''), undefined))).toEqual([
            ['y', 'why'],
            ['z', text(new Uint8Array(200).fill(1))!],
          ]);
          expect(text(await be.get('members', b('m1')))).toBe('peer');
          expect(await be.get('meta', b('m'))).toBeUndefined();
        }),
      );
    });

    describe('hash', () => {
      test(
        'hash is CRC-32C over key ‖ value in key order, buffered writes included',
        withBackend(async (be) => {
          expect(await be.hash('key')).toBe(0);
          be.put('key', b('b'), b('2'));
          be.put('key', b('a'), b('1'));
          // Known answer: CRC-32C("a1b2").
          expect(await be.hash('key')).toBe(crc32cReference(0, b('a1b2')));
          expect(await be.hash('key')).toBe(0xab07925d);
          await be.commit();
          be.put('key', b('c'), new Uint8Array([0, 255]));
          be.delete('key', b('a'));
          let expected = 0;
          for (const e of await be.range('key', b(''), undefined)) {
            expected = crc32cReference(crc32cReference(expected, e.key), e.value);
          }
          expect(await be.hash('key')).toBe(expected);
          expect(await be.hash('meta')).toBe(0);
        }),
      );

      test(
        'equal contents give equal hashes whatever the write history; a change changes it',
        withBackend(async (first) => {
          const second = await open();
          try {
            for (let i = 0; i < 100; i++) first.put('key', b(`k${i}`), b(`v${i}`));
            await first.commit();
            first.put('key', b('k5'), b('temporary'));
            first.delete('key', b('k5'));
            for (let i = 99; i >= 0; i--) {
              if (i !== 5) second.put('key', b(`k${i}`), b(`v${i}`));
              if (i % 10 === 0) await second.commit();
            }
            const h = await first.hash('key');
            expect(await second.hash('key')).toBe(h);
            await first.commit();
            expect(await first.hash('key')).toBe(h);
            second.put('key', b('k7'), b('v7!'));
            expect(await second.hash('key')).not.toBe(h);
            expect(await second.hash('meta')).toBe(await first.hash('meta'));
          } finally {
            await second.close();
          }
        }),
      );
    });

    describe('size and defragment', () => {
      test(
        'sizes are sane and defragment keeps every entry',
        withBackend(async (be) => {
          const value = new Uint8Array(1000).fill(0x61);
          for (let i = 0; i < 500; i++) be.put('key', b(`k${String(i).padStart(4, '0')}`), value);
          await be.commit();
          for (let i = 0; i < 500; i += 2) be.delete('key', b(`k${String(i).padStart(4, '0')}`));
          be.put('meta', b('after-deletes'), b('1'));
          const contents = await dump(be);
          const size = await be.size();
          expect(size.total).toBeGreaterThan(0);
          expect(size.inUse).toBeGreaterThanOrEqual(0);
          expect(size.inUse).toBeLessThanOrEqual(size.total);
          const { before, after } = await be.defragment();
          expect(before.total).toBeGreaterThan(0);
          expect(after.inUse).toBeLessThanOrEqual(after.total);
          expect(after.total).toBeLessThanOrEqual(before.total);
          expect(await dump(be)).toEqual(contents);
          expect((await be.range('key', b(''), undefined)).length).toBe(250);
        }),
      );
    });

    if (reopen !== undefined) {
      describe('persistence', () => {
        test(
          'committed and buffered writes survive close and reopen',
          withBackend(async (be) => {
            be.put('key', b('committed'), b('1'));
            be.put('key', b('deleted'), b('x'));
            await be.commit();
            be.delete('key', b('deleted'));
            be.put('meta', b('buffered'), b('2'));
            const contents = await dump(be);
            const hash = await be.hash('key');
            const again = await reopen(be);
            expect(await dump(again)).toEqual(contents);
            expect(await again.hash('key')).toBe(hash);
            expect(await again.get('key', b('deleted'))).toBeUndefined();
            return again;
          }),
        );

        test(
          'a restored backend keeps the restored contents after reopen',
          withBackend(async (be) => {
            be.put('key', b('old'), b('1'));
            await be.commit();
            await be.restore(
              streamOf(encodeKvsnap01([{ bucket: 'lease', key: b('l'), value: b('new') }])),
            );
            const again = await reopen(be);
            expect(await again.get('key', b('old'))).toBeUndefined();
            expect(text(await again.get('lease', b('l')))).toBe('new');
            return again;
          }),
        );
      });
    }
  });
}
