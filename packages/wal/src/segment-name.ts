// Segment files are named <seq>-<firstIndex>.wal, both as 16 hex digits, so
// that a directory listing sorts by sequence and shows where each file starts.
// firstIndex is the index the next entry was expected to have when the segment
// was cut; after a log truncation a segment may also hold lower indexes.

export const SEGMENT_SUFFIX = '.wal';
export const TMP_SUFFIX = '.tmp';

const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export interface SegmentName {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}${SEGMENT_SUFFIX}`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const seq = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { seq, firstIndex, name };
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}
