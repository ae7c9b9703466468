// An advisory lock file. Node has no flock(), so the lock is a file created
// with O_EXCL that names its owner: pid, boot id and the process start time.
// A lock whose owner is gone (killed, or from before a reboot, or a reused pid
// belonging to another process) is stale and taken over. Two processes taking
// over the same stale lock at the same instant can both succeed; the window is
// one unlink + create, accepted as the price of having no kernel lock.

import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { WalError } from './errors';
import { isErrno } from './fs-util';

const held = new Set<string>();

function linuxProcStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counts from after the parenthesised command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function ownerLine(): string {
  return `${process.pid} ${bootId() || '-'} ${linuxProcStart(process.pid) ?? '-'}\n`;
}

function ownerAlive(content: string): boolean {
  const [pidText, boot, start] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  const currentBoot = bootId();
  if (boot && boot !== '-' && currentBoot && boot !== currentBoot) return false;
  if (start && start !== '-') {
    const now = linuxProcStart(pid);
    if (now !== undefined) return now === start;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/** Hard link where the file system has them; otherwise an O_EXCL create. */
async function linkOrCreate(tmp: string, path: string): Promise<void> {
  try {
    await fs.link(tmp, path);
  } catch (err) {
    if (!isErrno(err, 'EPERM') && !isErrno(err, 'ENOTSUP') && !isErrno(err, 'EOPNOTSUPP'))
      throw err;
    await fs.writeFile(path, ownerLine(), { flag: 'wx' });
  }
}

/** Takes the lock file at `path`; resolves to its release function. */
export async function acquireLock(lockPath: string): Promise<() => Promise<void>> {
  const path = resolve(lockPath);
  if (held.has(path))
    throw new WalError('WAL_LOCKED', 'already open in this process', { file: path });
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written aside and linked into place, so a lock file is never seen half written.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await fs.writeFile(tmp, ownerLine());
    try {
      await linkOrCreate(tmp, path);
      held.add(path);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        held.delete(path);
        await fs.rm(path, { force: true });
      };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
    let content: string;
    try {
      content = await fs.readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    if (ownerAlive(content)) {
      throw new WalError('WAL_LOCKED', `held by process ${content.trim().split(' ')[0]}`, {
        file: path,
      });
    }
    await fs.rm(path, { force: true });
  }
  throw new WalError('WAL_LOCKED', 'could not take the lock', { file: path });
}
