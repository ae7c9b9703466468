/**
 * Key-range permission checks. A role grants READ, WRITE or READWRITE on a
 * single key, a range [key, range_end), or everything from a key on
 * (range_end "\0"). A request is allowed when the union of the user's granted
 * ranges of the needed kind covers the requested range entirely.
 */
import { authpb } from '@kv/api';

export type Access = 'read' | 'write';

interface Interval {
  readonly start: Buffer;
  /** Exclusive end; undefined = unbounded. */
  readonly end: Buffer | undefined;
}

/** Turns etcd's (key, range_end) into an interval; a single key is [key, key+"\0"). */
export function toInterval(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  const k = Buffer.from(key);
  if (rangeEnd.length === 0) return { start: k, end: Buffer.concat([k, Buffer.of(0)]) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: k, end: undefined };
  return { start: k, end: Buffer.from(rangeEnd) };
}

function grants(perm: authpb.Permission, access: Access): boolean {
  const T = authpb.Permission_Type;
  if (perm.permType === T.READWRITE) return true;
  return access === 'read' ? perm.permType === T.READ : perm.permType === T.WRITE;
}

/** True if the permissions of `roles` cover [key, rangeEnd) for `access`. */
export function covers(
  roles: readonly authpb.Role[],
  access: Access,
  key: Uint8Array,
  rangeEnd: Uint8Array,
): boolean {
  const want = toInterval(key, rangeEnd);
  const granted = roles
    .flatMap((r) => r.keyPermission)
    .filter((p) => grants(p, access))
    .map((p) => toInterval(p.key, p.rangeEnd))
    .sort((a, b) => Buffer.compare(a.start, b.start));
  // Sweep: extend the covered prefix of `want` with intervals that touch it.
  let reached: Buffer | undefined = want.start;
  for (const iv of granted) {
    if (reached === undefined) return true;
    if (Buffer.compare(iv.start, reached) > 0) continue;
    if (iv.end === undefined) return true;
    if (Buffer.compare(iv.end, reached) > 0) reached = iv.end;
    if (want.end !== undefined && Buffer.compare(reached, want.end) >= 0) return true;
  }
  return (
    reached === undefined || (want.end !== undefined && Buffer.compare(reached, want.end) >= 0)
  );
}
