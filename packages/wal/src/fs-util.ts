// Thin promise wrappers over the callback fs API. The callback API on raw file
// descriptors costs noticeably less per call than FileHandle, and a save makes
// at least two calls (write, fdatasync).

import fs from 'node:fs';

export function write(fd: number, buf: Uint8Array, off: number, len: number, pos: number) {
  return new Promise<number>((resolve, reject) => {
    fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Writes all of `buf[off, off + len)` at `pos`, looping over short writes. */
export async function writeFully(
  fd: number,
  buf: Uint8Array,
  off: number,
  len: number,
  pos: number,
): Promise<void> {
  while (len > 0) {
    const n = await write(fd, buf, off, len, pos);
    off += n;
    pos += n;
    len -= n;
  }
}

function writev(fd: number, bufs: Uint8Array[], pos: number) {
  return new Promise<number>((resolve, reject) => {
    fs.writev(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** What is left of `bufs` after a (possibly short) write of `written` bytes. */
function unwritten(bufs: Uint8Array[], written: number): Uint8Array[] {
  let skip = written;
  const rest: Uint8Array[] = [];
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}

/** Writes all of `bufs` back to back from `pos` with as few calls as the kernel allows. */
export async function writevFully(fd: number, bufs: Uint8Array[], pos: number): Promise<number> {
  let total = 0;
  let list = bufs;
  while (list.length > 0) {
    const n = await writev(fd, list, pos);
    if (n <= 0) throw new Error('writev wrote nothing');
    pos += n;
    total += n;
    list = unwritten(list, n);
  }
  return total;
}

/**
 * {@link writevFully} on the calling thread. For small batches: copying a few
 * kilobytes into the page cache takes microseconds, while a round trip through
 * the libuv thread pool (wake a worker, then wake the event loop) costs tens.
 */
export function writevFullySync(fd: number, bufs: Uint8Array[], pos: number): number {
  let total = 0;
  let list = bufs;
  while (list.length > 0) {
    const n = fs.writevSync(fd, list, pos);
    if (n <= 0) throw new Error('writev wrote nothing');
    pos += n;
    total += n;
    list = unwritten(list, n);
  }
  return total;
}

export function fdatasyncSync(fd: number): void {
  fs.fdatasyncSync(fd);
}

export function fdatasync(fd: number) {
  return new Promise<void>((resolve, reject) => {
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

export function fsync(fd: number) {
  return new Promise<void>((resolve, reject) => {
    fs.fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

export function ftruncate(fd: number, len: number) {
  return new Promise<void>((resolve, reject) => {
    fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve()));
  });
}

export function open(path: string, flags: string) {
  return new Promise<number>((resolve, reject) => {
    fs.open(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

export function close(fd: number) {
  return new Promise<void>((resolve, reject) => {
    fs.close(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/** Makes a directory's entries (created, renamed, removed files) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
