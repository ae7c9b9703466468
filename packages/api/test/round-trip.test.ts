import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  ElectionService,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
} from '../src/index';
import { allExportedCodecs, codecOf, messageArb, messageDescs, serviceDescs } from './schema';

const definitions: Record<string, ServiceDefinition> = {
  'etcdserverpb.KV': KVService,
  'etcdserverpb.Watch': WatchService,
  'etcdserverpb.Lease': LeaseService,
  'etcdserverpb.Cluster': ClusterService,
  'etcdserverpb.Maintenance': MaintenanceService,
  'etcdserverpb.Auth': AuthService,
  'v3lockpb.Lock': LockService,
  'v3electionpb.Election': ElectionService,
};

const RUNS = 40;

describe('message codecs', () => {
  it('exports exactly one codec per message of the .proto files', () => {
    const exported = [...allExportedCodecs().keys()].sort();
    // ts-proto joins nested message names with "_".
    const declared = messageDescs
      .map((d) => {
        const pkg = d.file.proto.package;
        return `${pkg}.${d.typeName.slice(pkg.length + 1).replaceAll('.', '_')}`;
      })
      .sort();
    expect(exported).toEqual(declared);
    expect(exported.length).toBeGreaterThan(100);
  });

  it('uses the .proto field names (camel-cased) as object keys', () => {
    for (const desc of messageDescs) {
      const keys = Object.keys(codecOf(desc).create()).sort();
      const expected = desc.members.map((m) => m.localName).sort();
      expect(keys, desc.typeName).toEqual(expected);
    }
  });

  describe.each(messageDescs.map((d) => [d.typeName, d] as const))('%s', (_name, desc) => {
    const codec = codecOf(desc);
    it('decodes what it encodes', () => {
      fc.assert(
        fc.property(messageArb(desc), (msg) => {
          const bytes = codec.encode(msg).finish();
          expect(codec.decode(bytes)).toEqual(msg);
        }),
        { numRuns: RUNS },
      );
    });
    it('agrees with an independent reflection codec', () => {
      fc.assert(
        fc.property(messageArb(desc), (msg) => {
          const bytes = codec.encode(msg).finish();
          // Decode with @bufbuild/protobuf's reflection runtime, re-encode,
          // and decode that with ts-proto: a wrong tag or wire type on either
          // side loses or corrupts data.
          const reflected = fromBinary(desc, bytes);
          const again = toBinary(desc, reflected);
          expect(codec.decode(again)).toEqual(msg);
        }),
        { numRuns: RUNS },
      );
    });
  });

  it('the reflection runtime decodes a default message to defaults', () => {
    for (const desc of messageDescs) {
      expect(toBinary(desc, create(desc)).length, desc.typeName).toBe(0);
      expect(codecOf(desc).encode(codecOf(desc).create()).finish().length, desc.typeName).toBe(0);
    }
  });
});

describe('service definitions', () => {
  it('cover every service of the .proto files', () => {
    expect(serviceDescs.map((s) => s.typeName).sort()).toEqual(Object.keys(definitions).sort());
  });

  describe.each(serviceDescs.map((s) => [s.typeName, s] as const))('%s', (name, service) => {
    const def = definitions[name]!;
    it.each(service.methods.map((m) => [m.name, m] as const))(
      '%s round-trips its request and response through the definition',
      (_method, method) => {
        const entry = Object.values(def).find((e) => e.path === `/${name}/${method.name}`);
        expect(entry).toBeDefined();
        fc.assert(
          fc.property(messageArb(method.input), messageArb(method.output), (req, res) => {
            expect(entry!.requestDeserialize(entry!.requestSerialize(req))).toEqual(req);
            expect(entry!.responseDeserialize(entry!.responseSerialize(res))).toEqual(res);
          }),
          { numRuns: 20 },
        );
      },
    );
  });
});
