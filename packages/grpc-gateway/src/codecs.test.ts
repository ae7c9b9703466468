import {
  AuthService,
  ClusterService,
  ElectionService,
  gatewayRoutes,
  grpcPathOf,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
} from '@kv/api';
import { describe, expect, it } from 'vitest';
import { codecsOf } from './codecs';

interface Def {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: never): Buffer;
  requestDeserialize(value: Buffer): unknown;
  responseDeserialize(value: Buffer): unknown;
}

const definitions = new Map<string, Def>(
  [
    KVService,
    WatchService,
    LeaseService,
    ClusterService,
    MaintenanceService,
    AuthService,
    LockService,
    ElectionService,
  ].flatMap((svc) => Object.values(svc as Record<string, Def>).map((d) => [d.path, d] as const)),
);

describe('method codecs', () => {
  it.each(gatewayRoutes.map((r) => [r.path, r] as const))(
    '%s has codecs of its RPC',
    (_p, route) => {
      const def = definitions.get(grpcPathOf(route));
      expect(def).toBeDefined();
      expect(def!.requestStream).toBe(route.streaming === 'bidi');
      expect(def!.responseStream).toBe(route.streaming !== 'none');
      const codecs = codecsOf(route.service, route.method)!;
      // A default request from our codec has the fields the gRPC serializer
      // writes, and a decoded empty response is writable by our JSON codec.
      const request = codecs.request.fromJSON({});
      expect(() => def!.requestSerialize(request as never)).not.toThrow();
      const response = def!.responseDeserialize(Buffer.alloc(0));
      expect(codecs.response.toJSON(response as never)).toEqual({});
    },
  );
});
