import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reservePorts } from '../src/index';
import { PortReserver } from '../src/reserver';

const sharedLockDir = path.join(os.tmpdir(), 'kv-test-ports');
const scratch: string[] = [];
afterEach(() => {
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempLockDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ports-test-'));
  scratch.push(d);
  return d;
}

// The fixed ranges below lie outside the shared range (20000–31999), so
// concurrent test processes reserving real ports do not disturb them.
describe('reservePort', () => {
  it('hands out distinct listenable ports below the ephemeral range, each locked by this process', async () => {
    const ports = await reservePorts(50);
    expect(new Set(ports).size).toBe(50);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(32_768);
      expect(fs.readFileSync(path.join(sharedLockDir, String(p)), 'utf8')).toBe(
        String(process.pid),
      );
    }
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(ports[0], '127.0.0.1', r));
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('skips ports locked by live processes, takes over locks of dead ones, and says when none is left', async () => {
    const lockDir = tempLockDir();
    const low = 19_000;
    const high = 19_040;
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    // Every port locked by a live process (PID 1) except 19_010 (no lock)
    // and 19_020 (locked by a process that has exited).
    for (let p = low; p < high; p++) {
      if (p !== 19_010)
        fs.writeFileSync(path.join(lockDir, String(p)), String(p === 19_020 ? dead : 1));
    }
    const reserver = new PortReserver({ low, high, lockDir });
    const got = [await reserver.reserve(), await reserver.reserve()].sort();
    expect(got).toEqual([19_010, 19_020]);
    expect(fs.readFileSync(path.join(lockDir, '19020'), 'utf8')).toBe(String(process.pid));
    await expect(reserver.reserve()).rejects.toThrow(/no free port found between 19000 and 19039/);
    reserver.releaseAll();
    expect(fs.existsSync(path.join(lockDir, '19010'))).toBe(false);
    expect(fs.existsSync(path.join(lockDir, '19000'))).toBe(true);
  });

  it('skips a port something else listens on', async () => {
    const lockDir = tempLockDir();
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(19_050, '127.0.0.1', r));
    try {
      const reserver = new PortReserver({ low: 19_050, high: 19_052, lockDir });
      expect(await reserver.reserve()).toBe(19_051);
      await expect(reserver.reserve()).rejects.toThrow(/no free port/);
      reserver.releaseAll();
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('releases its locks when the process exits', () => {
    const lockDir = tempLockDir();
    const reserverPath = path.join(import.meta.dirname, '../src/reserver.ts');
    const script = `import('${reserverPath}').then(async (m) => process.stdout.write(String(await new m.PortReserver({ low: 19_060, high: 19_070, lockDir: '${lockDir}' }).reserve())))`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const port = Number(r.stdout.trim());
    expect(port).toBeGreaterThanOrEqual(19_060);
    expect(fs.readdirSync(lockDir)).toEqual([]);
  });
});
