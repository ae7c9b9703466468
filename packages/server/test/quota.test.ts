/**
 * The space quota (NOSPACE), compared with real etcd 3.4: one member with a
 * small --quota-backend-bytes takes big values until a put fails with
 * 'etcdserver: mvcc: database space exceeded'; then the same etcdctl 3.4
 * session — alarm list, a refused put, a read, endpoint status, a disarm
 * that does not help, compaction, defrag, alarm disarm, a put that
 * succeeds — must print the same on both
 * servers (member IDs and revisions normalised). How many puts fit before the
 * quota is reached depends on the storage engine and is only bounded.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';
import type { ServerKind } from './harness';

const QUOTA = 2 * 1024 * 1024;
/** Incompressible, so both engines store about this many bytes per put. */
const VALUE_BYTES = 100 * 1024;

/** A fresh incompressible value of VALUE_BYTES characters. */
function bigValue(): string {
  return crypto.randomBytes((VALUE_BYTES * 3) / 4).toString('base64');
}

/** etcdctl's stderr without clientv3's JSON retry warnings. */
function errorsOf(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('{"level":"warn"'))
    .map((l) => `${l}\n`)
    .join('');
}

interface Session {
  readonly acceptedPuts: number;
  /** dbSize from endpoint status after compaction and defrag. */
  readonly sizeAfterDefrag: number;
  readonly transcript: string;
}

async function quotaSession(kind: ServerKind): Promise<Session> {
  const c = await ProcessCluster.start({
    kind,
    size: 1,
    extraFlags: [`--quota-backend-bytes=${QUOTA}`],
  });
  try {
    const ep = `--endpoints=${c.members[0]!.endpoint}`;
    const members = await etcdctl([ep, 'member', 'list']);
    const hexId = members.stdout.split(', ')[0]!;
    const decId = BigInt(`0x${hexId}`).toString();
    const out: string[] = [];
    const record = async (args: readonly string[], stdin?: string): Promise<string> => {
      const r = await etcdctl([ep, ...args], stdin);
      out.push(`$ etcdctl ${args.join(' ')}\n[exit ${r.code}]\n${r.stdout}${errorsOf(r.stderr)}`);
      return r.stdout;
    };

    // The same key over and over: compaction can then free the old values.
    let accepted = 0;
    for (;;) {
      const r = await etcdctl([ep, 'put', 'big'], bigValue());
      if (r.code !== 0) {
        out.push(
          `$ etcdctl put big <${VALUE_BYTES} bytes>\n[exit ${r.code}]\n${errorsOf(r.stderr)}`,
        );
        break;
      }
      accepted++;
      // Far more than 2 MiB worth: the quota never tripped.
      if (accepted > 200) throw new Error(`${kind}: no NOSPACE after ${accepted} puts`);
    }

    await record(['alarm', 'list']);
    await record(['put', 'small', 'x']);
    await record(['get', 'small']);
    await record(['get', 'big', '--keys-only']);
    const status = await etcdctl([ep, 'endpoint', 'status', '-w', 'json']);
    const errors = /"errors":(\[[^\]]*\])/.exec(status.stdout)?.[1];
    out.push(`status errors: ${errors ?? 'none'}`);
    // Disarming without freeing space: the next big write raises the alarm
    // again. (A small one may still fit here: etcd's bbolt file has grown past
    // the quota by then, our LevelDB stops just below it.)
    await record(['alarm', 'disarm']);
    const again = await etcdctl([ep, 'put', 'big'], bigValue());
    out.push(
      `$ etcdctl put big <${VALUE_BYTES} bytes>\n[exit ${again.code}]\n${errorsOf(again.stderr)}`,
    );
    await record(['alarm', 'list']);
    const rev = /"revision":(\d+)/.exec(status.stdout)?.[1];
    const compacted = await etcdctl([ep, 'compaction', '--physical', rev!]);
    out.push(`$ etcdctl compaction --physical REV\n[exit ${compacted.code}]\n${compacted.stdout}`);
    await record(['defrag']);
    const defragged = await etcdctl([ep, 'endpoint', 'status', '-w', 'json']);
    const sizeAfterDefrag = Number(/"dbSize":(\d+)/.exec(defragged.stdout)?.[1]);
    await record(['alarm', 'disarm']);
    await record(['alarm', 'list']);
    await record(['put', 'small', 'y']);
    await record(['get', 'small']);
    const after = await etcdctl([ep, 'endpoint', 'status', '-w', 'json']);
    out.push(`status errors: ${/"errors":(\[[^\]]*\])/.exec(after.stdout)?.[1] ?? 'none'}`);
    const transcript = out
      .join('\n')
      .replaceAll(decId, 'MEMBER_ID')
      .replaceAll(hexId, 'MEMBER_ID')
      .replace(/127\.0\.0\.1:\d+/g, 'ENDPOINT')
      .replace(/compacted revision \d+/g, 'compacted revision REV');
    return { acceptedPuts: accepted, sizeAfterDefrag, transcript };
  } finally {
    await c.close();
  }
}

describe('NOSPACE: the space quota against etcd 3.4', () => {
  it('fills up, refuses writes, and recovers after compact + defrag + disarm, as etcd does', async () => {
    const etcd = await quotaSession('etcd');
    const ours = await quotaSession('kv');
    expect(ours.transcript).toBe(etcd.transcript);
    if (process.env.SHOW_TRANSCRIPT !== undefined) console.log(etcd.transcript);
    expect(etcd.transcript).toContain('Error: etcdserver: mvcc: database space exceeded');
    expect(etcd.transcript).toContain('memberID:MEMBER_ID alarm:NOSPACE');
    // Both reach the quota, with roughly the same amount of data.
    const bound = Math.ceil(QUOTA / VALUE_BYTES);
    for (const s of [etcd, ours]) {
      expect(s.acceptedPuts).toBeGreaterThan(0);
      expect(s.acceptedPuts).toBeLessThanOrEqual(bound);
      // Compaction and defrag gave the space back.
      expect(s.sizeAfterDefrag).toBeLessThan(QUOTA / 4);
    }
  }, 240_000);
});
