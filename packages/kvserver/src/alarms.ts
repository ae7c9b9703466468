/**
 * Active alarms (NOSPACE, CORRUPT), replicated through Raft so every member
 * agrees, and stored in the backend's 'alarm' bucket: key = member ID (8
 * bytes, big-endian) + alarm type (1 byte).
 */
import type { Backend } from '@kv/mvcc';

export interface Alarm {
  readonly memberId: bigint;
  readonly type: number;
}

function key(a: Alarm): Uint8Array {
  const b = Buffer.alloc(9);
  b.writeBigUInt64BE(a.memberId);
  b[8] = a.type;
  return b;
}

export class AlarmStore {
  #alarms: Alarm[] = [];

  async load(backend: Backend): Promise<void> {
    const rows = await backend.range('alarm', new Uint8Array(0), undefined);
    this.#alarms = rows.map(({ key: k }) => {
      const b = Buffer.from(k);
      return { memberId: b.readBigUInt64BE(0), type: b[8] ?? 0 };
    });
  }

  list(type?: number): Alarm[] {
    return this.#alarms.filter((a) => type === undefined || type === 0 || a.type === type);
  }

  has(type: number): boolean {
    return this.#alarms.some((a) => a.type === type);
  }

  activate(backend: Backend, alarm: Alarm): void {
    if (this.#alarms.some((a) => a.memberId === alarm.memberId && a.type === alarm.type)) return;
    this.#alarms.push(alarm);
    backend.put('alarm', key(alarm), new Uint8Array(0));
  }

  deactivate(backend: Backend, alarm: Alarm): boolean {
    const before = this.#alarms.length;
    this.#alarms = this.#alarms.filter(
      (a) => !(a.memberId === alarm.memberId && a.type === alarm.type),
    );
    if (this.#alarms.length === before) return false;
    backend.delete('alarm', key(alarm));
    return true;
  }
}
