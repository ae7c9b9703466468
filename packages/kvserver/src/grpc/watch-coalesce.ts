/**
 * Joins a watcher's event responses that a burst of writes queued together
 * into one response per watcher, as etcd's catch-up responses carry many
 * revisions. With several writers, one apply commits a dozen revisions at
 * once; sending each watcher one message per revision multiplies the
 * per-message work (framing here, decoding in every client) by as much.
 *
 * Order is kept per watcher. A response without events (a progress
 * notification) or a cancellation is a barrier: nothing is moved across it,
 * so a client never sees an event after a notice that claims completeness
 * at a lower revision.
 */
import type { MvccEvent, WatchResponse } from '@kv/mvcc';

/** Event bytes (keys, values) above which a watcher's joined response is closed. */
export const COALESCE_MAX_BYTES = 256 * 1024;

function eventSize(e: MvccEvent): number {
  let n = 16 + e.kv.key.length + e.kv.value.length;
  if (e.prevKv !== undefined) n += e.prevKv.key.length + e.prevKv.value.length;
  return n;
}

interface Open {
  /** Position in the output of the response being joined into. */
  readonly at: number;
  readonly events: MvccEvent[];
  bytes: number;
}

/** The responses of `batch` with each watcher's consecutive event responses joined. */
export function coalesceWatchResponses(
  batch: readonly WatchResponse[],
  maxBytes = COALESCE_MAX_BYTES,
): WatchResponse[] {
  if (batch.length < 2) return batch as WatchResponse[];
  const out: WatchResponse[] = [];
  let open = new Map<number, Open>();
  for (const r of batch) {
    const plainEvents =
      r.events.length > 0 && r.canceled !== true && r.compactRevision === undefined;
    if (!plainEvents) {
      if (open.size > 0) open = new Map();
      out.push(r);
      continue;
    }
    let size = 0;
    for (const e of r.events) size += eventSize(e);
    const o = open.get(r.watchId);
    if (o !== undefined && o.bytes + size <= maxBytes) {
      // The MVCC layer may share an events array among watchers: join into our own.
      for (const e of r.events) o.events.push(e);
      o.bytes += size;
      out[o.at] = { watchId: r.watchId, events: o.events, revision: r.revision };
      continue;
    }
    open.set(r.watchId, { at: out.length, events: [...r.events], bytes: size });
    out.push(r);
  }
  return out;
}
