/** Named run profiles: which faults, how long, and which server switches. */

/** Every fault the scheduler can inject. */
export const FAULTS = [
  'kill',
  'kill-majority',
  'kill-all',
  'pause',
  'partition',
  'delay',
  'replace',
] as const;
/** One fault kind. */
export type FaultKind = (typeof FAULTS)[number];

/** A run profile. */
export interface Profile {
  readonly name: string;
  readonly description: string;
  /** Workload duration (ms); faults are injected throughout. */
  readonly durationMs: number;
  readonly faults: readonly FaultKind[];
  /** Environment for every member (KV_FAILPOINTS, KV_UNSAFE_TEST_MODES). */
  readonly env: Readonly<Record<string, string>>;
  readonly clients: number;
  readonly keys: number;
  readonly snapshotCount: number;
  /** True for the deliberately broken servers: the run must FAIL. */
  readonly expectFailure: boolean;
  /** Part of the CI test run. */
  readonly ci: boolean;
}

const base = { clients: 6, keys: 5, snapshotCount: 100, expectFailure: false, ci: false, env: {} };

// The snapshot points fire only when a member installs a snapshot from the
// leader: rare, so their odds are high.
const FAILPOINTS =
  'raftBeforeSave=kill@0.002,raftAfterSave=kill@0.002,raftAfterSaveSnap=kill@0.1,raftBeforeApplySnap=kill@0.1,beforeApply=sleep(5)@0.05,beforeRespond=kill@0.002';

export const PROFILES: Readonly<Record<string, Profile>> = {
  quiet: {
    ...base,
    name: 'quiet',
    description: 'No faults: a baseline.',
    durationMs: 10_000,
    faults: [],
  },
  ci: {
    ...base,
    name: 'ci',
    description: 'Real server, every fault type once or more in 20 s, failpoint crashes on.',
    durationMs: 20_000,
    faults: ['kill', 'kill-majority', 'pause', 'partition', 'delay'],
    env: { KV_FAILPOINTS: FAILPOINTS },
    ci: true,
  },
  'ci-stale-reads': {
    ...base,
    name: 'ci-stale-reads',
    description: 'KV_UNSAFE_TEST_MODES=stale-reads under partitions and pauses: must be caught.',
    durationMs: 10_000,
    faults: ['partition', 'pause'],
    env: { KV_UNSAFE_TEST_MODES: 'stale-reads' },
    expectFailure: true,
    ci: true,
  },
  'ci-ack-before-sync': {
    ...base,
    name: 'ci-ack-before-sync',
    description: 'KV_UNSAFE_TEST_MODES=ack-before-sync with whole-cluster kills: must be caught.',
    durationMs: 10_000,
    faults: ['kill-all'],
    env: { KV_UNSAFE_TEST_MODES: 'ack-before-sync' },
    expectFailure: true,
    ci: true,
  },
  'ci-replace': {
    ...base,
    name: 'ci-replace',
    description:
      'Real server: members removed, wiped and added back (MemberRemove, MemberAdd, --initial-cluster-state=existing) for 12 s.',
    durationMs: 12_000,
    faults: ['replace'],
    ci: true,
  },
  kill: {
    ...base,
    name: 'kill',
    description: 'SIGKILL one member (often the leader) and restart.',
    durationMs: 60_000,
    faults: ['kill'],
  },
  'kill-majority': {
    ...base,
    name: 'kill-majority',
    description: 'SIGKILL two or three members at once and restart.',
    durationMs: 60_000,
    faults: ['kill-majority'],
  },
  pause: {
    ...base,
    name: 'pause',
    description: 'SIGSTOP/SIGCONT a member (often the leader).',
    durationMs: 60_000,
    faults: ['pause'],
  },
  partition: {
    ...base,
    name: 'partition',
    description: 'Isolate a member (often the leader) on the peer proxies.',
    durationMs: 60_000,
    faults: ['partition'],
  },
  delay: {
    ...base,
    name: 'delay',
    description: 'Delay every link into a member by 50-300 ms.',
    durationMs: 60_000,
    faults: ['delay'],
  },
  replace: {
    ...base,
    name: 'replace',
    description:
      'Remove a member, wipe it and add it back (MemberRemove, MemberAdd, --initial-cluster-state=existing).',
    durationMs: 30_000,
    faults: ['replace'],
  },
  failpoints: {
    ...base,
    name: 'failpoints',
    description:
      'No scheduled faults; crashes come from failpoints around WAL save, apply and respond.',
    durationMs: 60_000,
    faults: [],
    env: {
      KV_FAILPOINTS:
        'raftBeforeSave=kill@0.005,raftAfterSave=kill@0.005,raftAfterSaveSnap=kill@0.2,raftBeforeApplySnap=kill@0.2,beforeApply=sleep(10)@0.1,beforeRespond=kill@0.005',
    },
  },
  long: {
    ...base,
    name: 'long',
    description: 'Every fault type, and failpoint crashes, for 5 minutes.',
    durationMs: 300_000,
    faults: ['kill', 'kill-majority', 'pause', 'partition', 'delay', 'replace'],
    env: { KV_FAILPOINTS: FAILPOINTS },
  },
};
