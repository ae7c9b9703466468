import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseArgs, usage } from './config';

describe('kv-server configuration', () => {
  it("uses etcd's defaults with no flags", () => {
    const { config } = parseArgs([], {});
    expect(config.name).toBe('default');
    expect(config.dataDir).toBe('default.etcd');
    expect(config.listenClientUrls).toEqual(['http://localhost:2379']);
    expect(config.initialCluster).toBe('default=http://localhost:2380');
    expect(config.snapshotCount).toBe(100_000);
    expect(config.heartbeatInterval).toBe(100);
    expect(config.electionTimeout).toBe(1000);
    expect(config.maxTxnOps).toBe(128);
    expect(config.maxRequestBytes).toBe(1.5 * 1024 * 1024);
  });

  it('parses --flag=value, --flag value and booleans', () => {
    const { config } = parseArgs(
      [
        '--name=n1',
        '--data-dir',
        '/tmp/x',
        '--snapshot-count=10',
        '--client-cert-auth',
        '--listen-client-urls=http://127.0.0.1:1,http://127.0.0.1:2',
      ],
      {},
    );
    expect(config.name).toBe('n1');
    expect(config.dataDir).toBe('/tmp/x');
    expect(config.snapshotCount).toBe(10);
    expect(config.clientCertAuth).toBe(true);
    expect(config.listenClientUrls).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    expect(config.initialCluster).toBe('n1=http://localhost:2380');
  });

  it('reads ETCD_* variables, with flags taking precedence', () => {
    const { config } = parseArgs(['--name=flag'], { ETCD_NAME: 'env', ETCD_SNAPSHOT_COUNT: '42' });
    expect(config.name).toBe('flag');
    expect(config.snapshotCount).toBe(42);
  });

  it('reads a YAML config file with etcd field names', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'etcd.yaml');
    fs.writeFileSync(
      file,
      'name: yaml-member\ndata-dir: /tmp/yaml\nlisten-client-urls: http://127.0.0.1:3379\nheartbeat-interval: 50\nelection-timeout: 500\nauto-compaction-mode: revision\nauto-compaction-retention: "1000"\n',
    );
    const { config } = parseArgs([`--config-file=${file}`], {});
    expect(config.name).toBe('yaml-member');
    expect(config.listenClientUrls).toEqual(['http://127.0.0.1:3379']);
    expect(config.heartbeatInterval).toBe(50);
    expect(config.autoCompactionMode).toBe('revision');
  });

  it('rejects unknown flags, bad values and bad combinations clearly', () => {
    expect(() => parseArgs(['--nope'], {})).toThrow(
      new ConfigError('flag provided but not defined: -nope'),
    );
    expect(() => parseArgs(['--snapshot-count=many'], {})).toThrow(
      /invalid value "many" for flag -snapshot-count/,
    );
    expect(() => parseArgs(['--initial-cluster-state=maybe'], {})).toThrow(
      /valid values are new, existing/,
    );
    expect(() => parseArgs(['--listen-client-urls=ftp://x:1'], {})).toThrow(
      /URL scheme must be http/,
    );
    expect(() => parseArgs(['--heartbeat-interval=500'], {})).toThrow(/at least as 5 times/);
    expect(() => parseArgs(['--name'], {})).toThrow(/flag needs an argument/);
    expect(() => parseArgs(['stray'], {})).toThrow(/not a valid flag/);
  });

  it('recognises --help and --version', () => {
    expect(parseArgs(['--help'], {}).help).toBe(true);
    expect(parseArgs(['--version'], {}).version).toBe(true);
    expect(usage()).toContain('--initial-cluster-token');
  });

  it("parses etcd's corruption-check flags (a bool and a Go duration)", () => {
    const d = parseArgs([], {}).config;
    expect(d.experimentalInitialCorruptCheck).toBe(false);
    expect(d.experimentalCorruptCheckTime).toBe(0);
    expect(usage()).toContain("--experimental-corrupt-check-time '0s'");
    expect(usage()).toContain("--experimental-initial-corrupt-check 'false'");
    const { config } = parseArgs(
      ['--experimental-initial-corrupt-check', '--experimental-corrupt-check-time=1m30s'],
      {},
    );
    expect(config.experimentalInitialCorruptCheck).toBe(true);
    expect(config.experimentalCorruptCheckTime).toBe(90_000);
    for (const [v, ms] of [
      ['0', 0],
      ['250ms', 250],
      ['1.5s', 1500],
      ['2h', 7_200_000],
    ] as const) {
      expect(
        parseArgs([`--experimental-corrupt-check-time=${v}`], {}).config
          .experimentalCorruptCheckTime,
      ).toBe(ms);
    }
    expect(
      parseArgs([], { ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME: '5s' }).config
        .experimentalCorruptCheckTime,
    ).toBe(5000);
    for (const bad of ['5', 'abc', '-1s', '']) {
      expect(() => parseArgs([`--experimental-corrupt-check-time=${bad}`], {})).toThrow(
        `invalid value "${bad}" for flag -experimental-corrupt-check-time: parse error`,
      );
    }
  });

  it("parses etcd's backend batching flags (0: the defaults)", () => {
    const d = parseArgs([], {}).config;
    expect(d.backendBatchInterval).toBe(0);
    expect(d.backendBatchLimit).toBe(0);
    expect(usage()).toContain("--backend-batch-interval '0s'");
    expect(usage()).toContain("--backend-batch-limit '0'");
    const { config } = parseArgs(
      ['--backend-batch-interval=25ms', '--backend-batch-limit', '500'],
      {},
    );
    expect(config.backendBatchInterval).toBe(25);
    expect(config.backendBatchLimit).toBe(500);
    expect(parseArgs([], { ETCD_BACKEND_BATCH_INTERVAL: '1s' }).config.backendBatchInterval).toBe(
      1000,
    );
    expect(() => parseArgs(['--backend-batch-interval=10'], {})).toThrow(
      'invalid value "10" for flag -backend-batch-interval: parse error',
    );
    expect(() => parseArgs(['--backend-batch-limit=many'], {})).toThrow(
      'invalid value "many" for flag -backend-batch-limit: parse error',
    );
  });

  it("parses --strict-reconfig-check (etcd 3.4's default: true)", () => {
    expect(parseArgs([], {}).config.strictReconfigCheck).toBe(true);
    expect(usage()).toContain("--strict-reconfig-check 'true'");
    expect(parseArgs(['--strict-reconfig-check=false'], {}).config.strictReconfigCheck).toBe(false);
    expect(parseArgs([], { ETCD_STRICT_RECONFIG_CHECK: 'false' }).config.strictReconfigCheck).toBe(
      false,
    );
  });
});
