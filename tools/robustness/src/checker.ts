/**
 * Linearizability checker: the Wing–Gong search with Lowe's memoization
 * (as in Porcupine and Knossos), run independently per key. Partitioning is
 * sound because every operation of the workload touches exactly one key and
 * the single-key models compose (linearizability is local).
 */
import type { OpInput, OpOutput, Operation } from './history';

/** The state of one key in the model. */
interface KeyState {
  readonly value: string | null;
  /** Lease the current value is attached to. */
  readonly lease: string | null;
}

const EMPTY: KeyState = { value: null, lease: null };

/**
 * Applies one operation to the model; returns the next state or `undefined`
 * when the recorded output is impossible from `s`. An unknown output
 * matches anything, but the operation's effect still applies.
 */
function step(s: KeyState, input: OpInput, out: OpOutput | undefined): KeyState | undefined {
  switch (input.kind) {
    case 'put':
      return { value: input.value, lease: input.lease ?? null };
    case 'get':
      if (out !== undefined && (out.kind !== 'get' || out.value !== s.value)) return undefined;
      return s;
    case 'delete':
      if (
        out !== undefined &&
        (out.kind !== 'delete' || out.deleted !== (s.value === null ? 0 : 1))
      )
        return undefined;
      return EMPTY;
    case 'cas': {
      const ok = s.value === input.expected;
      if (out !== undefined) {
        if (out.kind !== 'cas' || out.succeeded !== ok) return undefined;
        if (!ok && out.value !== s.value) return undefined;
      }
      return ok ? { value: input.value, lease: null } : s;
    }
    case 'revoke':
      return s.lease === input.lease ? EMPTY : s;
  }
}

/** Verdict for one key. */
export interface KeyResult {
  readonly key: string;
  readonly ok: boolean;
  /** True when the search gave up (budget exhausted): neither proven nor refuted. */
  readonly inconclusive: boolean;
  readonly operations: number;
}

/** Verdict for a whole history. */
export interface CheckResult {
  /** False only when some key's history is proven non-linearizable. */
  readonly ok: boolean;
  readonly keys: readonly KeyResult[];
  /** Keys whose history is not linearizable. */
  readonly violations: readonly string[];
}

interface Entry {
  readonly op: Operation | undefined;
  readonly isCall: boolean;
  readonly time: number;
  /** The matching return entry of a call. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
  /** Bit index of the operation in the per-key bitset. */
  readonly bit: number;
}

function link(ops: readonly Operation[]): Entry {
  const entries: Entry[] = [];
  ops.forEach((op, bit) => {
    const call: Entry = {
      op,
      isCall: true,
      time: op.call,
      match: undefined,
      prev: undefined,
      next: undefined,
      bit,
    };
    const ret: Entry = {
      op,
      isCall: false,
      time: op.ret,
      match: undefined,
      prev: undefined,
      next: undefined,
      bit,
    };
    call.match = ret;
    entries.push(call, ret);
  });
  // Calls sort before returns at equal times: it only widens concurrency,
  // so a tie can never produce a false violation.
  entries.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const head: Entry = {
    op: undefined,
    isCall: false,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
    bit: -1,
  };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** Checks one key's operations; `budget` bounds the search steps. */
export function checkKey(
  ops: readonly Operation[],
  budget = 5_000_000,
): 'ok' | 'violation' | 'inconclusive' {
  // A read whose answer never arrived constrains nothing.
  const kept = ops.filter((o) => !(o.output === undefined && o.input.kind === 'get'));
  const head = link(kept);
  const cache = new Set<string>();
  const stack: { entry: Entry; state: KeyState }[] = [];
  let linearized = 0n;
  let state = EMPTY;
  let entry = head.next;
  let steps = 0;
  while (head.next !== undefined) {
    if (++steps > budget) return 'inconclusive';
    if (entry === undefined) return 'violation';
    if (entry.isCall) {
      const op = entry.op!;
      const next = step(state, op.input, op.output);
      if (next !== undefined) {
        const lin = linearized | (1n << BigInt(entry.bit));
        const key = `${lin.toString(36)}|${next.value ?? '\u0000'}|${next.lease ?? ''}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ entry, state });
          state = next;
          linearized = lin;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // A return whose call is not yet linearized: backtrack.
      const top = stack.pop();
      if (top === undefined) return 'violation';
      linearized &= ~(1n << BigInt(top.entry.bit));
      state = top.state;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return 'ok';
}

/** Splits a history by key and checks every key. */
export function checkHistory(ops: readonly Operation[], budgetPerKey?: number): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, [op]);
    else list.push(op);
  }
  const keys: KeyResult[] = [];
  for (const [key, list] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const r = checkKey(list, budgetPerKey);
    keys.push({
      key,
      ok: r !== 'violation',
      inconclusive: r === 'inconclusive',
      operations: list.length,
    });
  }
  const violations = keys.filter((k) => !k.ok).map((k) => k.key);
  return { ok: violations.length === 0, keys, violations };
}
