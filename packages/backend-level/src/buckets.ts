/**
 * Buckets are key prefixes in one LevelDB: one identifying byte, then a 0x00
 * separator. A bucket's keys therefore sort together and a scan bounded by
 * [id, 0x00] .. [id, 0x01) never leaves it. The ids are part of the on-disk
 * format: never renumber, only append.
 */

/** Bucket name → prefix byte. Order here is also the order buckets appear in a snapshot. */
export const BUCKET_IDS = {
  key: 0x01,
  meta: 0x02,
  lease: 0x03,
  auth: 0x04,
  authUsers: 0x05,
  authRoles: 0x06,
  members: 0x07,
  members_removed: 0x08,
  alarm: 0x09,
  cluster: 0x0a,
} as const;

/** A bucket this backend stores. */
export type BucketName = keyof typeof BUCKET_IDS;

/** All bucket names, in prefix order. */
export const BUCKET_NAMES = Object.keys(BUCKET_IDS) as BucketName[];

/** Number of bytes every stored key carries in front of the caller's key. */
export const PREFIX_LENGTH = 2;

const SEPARATOR = 0x00;

/** The prefix byte of a bucket; throws TypeError for a name outside the set. */
export function bucketId(bucket: string): number {
  const id = (BUCKET_IDS as Record<string, number | undefined>)[bucket];
  if (id === undefined || !Object.hasOwn(BUCKET_IDS, bucket)) {
    throw new TypeError(`unknown bucket ${JSON.stringify(bucket)}`);
  }
  return id;
}

/** The stored key: prefix ‖ key. */
export function storedKey(id: number, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_LENGTH + key.length);
  out[0] = id;
  out[1] = SEPARATOR;
  out.set(key, PREFIX_LENGTH);
  return out;
}

/** First stored key at or after every key of the bucket. */
export function bucketStart(id: number): Buffer {
  return Buffer.from([id, SEPARATOR]);
}

/** First stored key after every key of the bucket. */
export function bucketEnd(id: number): Buffer {
  return Buffer.from([id, SEPARATOR + 1]);
}
