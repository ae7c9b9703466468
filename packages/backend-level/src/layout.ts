/**
 * The backend directory:
 *
 *   <path>/lock/        an empty LevelDB held open only for its LOCK file, so
 *                       one process (and one instance) owns the directory
 *   <path>/ACTIVE       the name of the live database directory + "\n"
 *   <path>/db-000001/   the LevelDB holding the buckets
 *
 * restore() builds db-<n+1> beside the live one and then replaces ACTIVE by
 * rename, which is atomic: after a crash ACTIVE names either the complete
 * old or the complete new database. Directories ACTIVE does not name are
 * leftovers of an interrupted restore or creation and are removed at open.
 */

import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { BackendError, BackendErrorCode, innermostMessage, levelCode } from './errors';

/** LevelDB as this package uses it: Buffer keys and values. */
export type Db = ClassicLevel<Buffer, Buffer>;

/** LevelDB tuning passed through to classic-level. */
export interface LevelTuning {
  readonly cacheSize?: number;
  readonly writeBufferSize?: number;
}

const ACTIVE = 'ACTIVE';
const ACTIVE_TMP = 'ACTIVE.tmp';
const LOCK_DIR = 'lock';
const DB_NAME = /^db-(\d{6})$/;

/** Name of the n-th database directory. */
export function dbName(n: number): string {
  return `db-${String(n).padStart(6, '0')}`;
}

/** Generation number of a database directory name. */
function dbGeneration(name: string): number {
  const m = DB_NAME.exec(name);
  if (m === null) throw new TypeError(`not a database directory name: ${name}`);
  return Number(m[1]);
}

/** A classic-level handle with this package's encodings. */
export function newDb(location: string, tuning: LevelTuning): Db {
  return new ClassicLevel<Buffer, Buffer>(location, {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    ...(tuning.cacheSize !== undefined && { cacheSize: tuning.cacheSize }),
    ...(tuning.writeBufferSize !== undefined && { writeBufferSize: tuning.writeBufferSize }),
  });
}

function openError(path: string, err: unknown): BackendError {
  const code = levelCode(err);
  const detail = innermostMessage(err);
  if (code === 'LEVEL_LOCKED') {
    return new BackendError(
      BackendErrorCode.LOCKED,
      `backend ${path} is already open in another process or instance (${detail})`,
      { cause: err },
    );
  }
  if (code === 'LEVEL_CORRUPTION') {
    return new BackendError(BackendErrorCode.CORRUPT, `backend ${path} is corrupt: ${detail}`, {
      cause: err,
    });
  }
  return new BackendError(BackendErrorCode.OPEN_FAILED, `cannot open backend ${path}: ${detail}`, {
    cause: err,
  });
}

/** An opened backend directory: its lock and its live database. */
export interface OpenedLayout {
  readonly lock: Db;
  readonly db: Db;
  readonly generation: number;
}

/** Open (creating if needed) the backend directory at `path`. */
export async function openLayout(path: string, tuning: LevelTuning): Promise<OpenedLayout> {
  try {
    await mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new BackendError(
        BackendErrorCode.OPEN_FAILED,
        `cannot create backend ${path}: its parent directory does not exist`,
        { cause: err },
      );
    }
    if (code !== 'EEXIST') throw openError(path, err);
    const info = await stat(path);
    if (!info.isDirectory()) {
      throw new BackendError(
        BackendErrorCode.OPEN_FAILED,
        `cannot open backend ${path}: not a directory`,
      );
    }
  }

  // Refuse a foreign directory before creating anything in it.
  await checkOwnDirectory(path);
  const lock = newDb(join(path, LOCK_DIR), { writeBufferSize: 64 * 1024, cacheSize: 0 });
  try {
    await lock.open();
  } catch (err) {
    throw openError(path, err);
  }

  try {
    const opened = await openActive(path, tuning);
    await removeLeftovers(path, dbName(opened.generation));
    return { lock, ...opened };
  } catch (err) {
    await lock.close();
    throw err;
  }
}

async function openActive(
  path: string,
  tuning: LevelTuning,
): Promise<{ db: Db; generation: number }> {
  let active: string;
  try {
    active = await readFile(join(path, ACTIVE), 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw openError(path, err);
    return createFirst(path, tuning);
  }
  const name = active.endsWith('\n') ? active.slice(0, -1) : active;
  if (!DB_NAME.test(name)) {
    throw new BackendError(
      BackendErrorCode.CORRUPT,
      `backend ${path} is corrupt: ACTIVE holds ${JSON.stringify(active)}`,
    );
  }
  const db = newDb(join(path, name), tuning);
  try {
    await db.open({ createIfMissing: false });
  } catch (err) {
    if (levelCode(err) === undefined && /does not exist/.test(innermostMessage(err))) {
      throw new BackendError(
        BackendErrorCode.CORRUPT,
        `backend ${path} is corrupt: the active database ${name} is missing`,
        { cause: err },
      );
    }
    throw openError(path, err);
  }
  return { db, generation: dbGeneration(name) };
}

// A directory with ACTIVE is ours; without it, it may only hold our leftovers.
async function checkOwnDirectory(path: string): Promise<void> {
  const entries = await readdir(path);
  if (entries.includes(ACTIVE)) return;
  for (const entry of entries) {
    if (entry !== LOCK_DIR && entry !== ACTIVE_TMP && !DB_NAME.test(entry)) {
      throw new BackendError(
        BackendErrorCode.OPEN_FAILED,
        `cannot open backend ${path}: not a backend directory (unexpected ${JSON.stringify(entry)} and no ACTIVE file)`,
      );
    }
  }
}

// No ACTIVE: a new directory, or one whose creation was interrupted.
async function createFirst(
  path: string,
  tuning: LevelTuning,
): Promise<{ db: Db; generation: number }> {
  await checkOwnDirectory(path);
  await removeLeftovers(path, undefined);
  const name = dbName(1);
  const db = newDb(join(path, name), tuning);
  try {
    await db.open({ createIfMissing: true, errorIfExists: true });
    await setActive(path, name);
  } catch (err) {
    await db.close();
    throw openError(path, err);
  }
  return { db, generation: 1 };
}

/** Remove database directories other than `keep`, and a stale ACTIVE.tmp. */
async function removeLeftovers(path: string, keep: string | undefined): Promise<void> {
  for (const entry of await readdir(path)) {
    if ((DB_NAME.test(entry) && entry !== keep) || entry === ACTIVE_TMP) {
      await rm(join(path, entry), { recursive: true, force: true });
    }
  }
}

/** The database name ACTIVE holds, or undefined if it cannot be read. */
export async function readActive(path: string): Promise<string | undefined> {
  try {
    const active = await readFile(join(path, ACTIVE), 'latin1');
    return active.endsWith('\n') ? active.slice(0, -1) : active;
  } catch {
    return undefined;
  }
}

/** Point ACTIVE at `name`, durably and atomically (write, fsync, rename, fsync dir). */
export async function setActive(path: string, name: string): Promise<void> {
  const tmp = join(path, ACTIVE_TMP);
  await writeFile(tmp, `${name}\n`, { encoding: 'latin1', flush: true });
  await rename(tmp, join(path, ACTIVE));
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Sum of the sizes of the files directly inside `dir`, and of its *.log files. */
export async function directorySize(dir: string): Promise<{ total: number; logs: number }> {
  let total = 0;
  let logs = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    try {
      const { size } = await stat(join(dir, entry.name));
      total += size;
      if (entry.name.endsWith('.log')) logs += size;
    } catch {
      // LevelDB removed the file (compaction) between readdir and stat.
    }
  }
  return { total, logs };
}
