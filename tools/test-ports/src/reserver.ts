import fs from 'node:fs';
import net from 'node:net';

export interface PortRange {
  /** First port of the range. */
  readonly low: number;
  /** One past the last port. */
  readonly high: number;
  /** Where the lock files live: one file per port, holding the owner's PID. */
  readonly lockDir: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Hands out ports of one range, locked across processes until this one exits. */
export class PortReserver {
  readonly #held = new Set<string>();
  #exitHook = false;

  constructor(readonly range: PortRange) {}

  async reserve(): Promise<number> {
    const { low, high, lockDir } = this.range;
    fs.mkdirSync(lockDir, { recursive: true });
    if (!this.#exitHook) {
      this.#exitHook = true;
      process.once('exit', () => this.releaseAll());
    }
    // A random start spreads concurrent processes apart; the scan then
    // visits every port once, so a nearly full range is still searched.
    const size = high - low;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = low + ((start + i) % size);
      if (!this.#tryLock(port)) continue;
      // Keep the lock even when something outside the repository listens
      // there: this process will not want that port again.
      if (await canListen(port)) return port;
    }
    throw new Error(`no free port found between ${low} and ${high - 1}`);
  }

  releaseAll(): void {
    for (const file of this.#held) fs.rmSync(file, { force: true });
    this.#held.clear();
  }

  /** Takes the lock for `port`, clearing a lock left by a process that has died. */
  #tryLock(port: number): boolean {
    const file = `${this.range.lockDir}/${port}`;
    if (this.#held.has(file)) return false;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
        this.#held.add(file);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: number;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue; // removed meanwhile: try again
      }
      // An empty file is a lock being written right now.
      if (!Number.isInteger(owner) || owner <= 0 || processAlive(owner)) return false;
      fs.rmSync(file, { force: true });
    }
    return false;
  }
}
