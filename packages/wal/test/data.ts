// Test data shared by the tests and the crash-test child process (which must
// not import vitest).

export const META = new TextEncoder().encode('cluster=c1 member=m1');

/** Deterministic payload for an entry, so a reader can check it without a copy. */
export function payload(index: number, term: number, size = 16 + (index % 7) * 13): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761 + term * 97) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
