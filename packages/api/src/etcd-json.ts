// etcd's JSON gateway writes field names exactly as the .proto files spell
// them (`cluster_id`, `create_revision`, but `raftTerm` and `peerURLs`),
// whereas the generated toJSON follows proto3's JSON mapping and camel-cases
// them. A global rename table cannot work (`ResponseHeader.raft_term` and
// `StatusResponse.raftTerm` both camel-case to `raftTerm`), so a second,
// JSON-only ts-proto pass (buf.gen.yaml) emits per-message toJSON functions
// with the original names, over the same object shapes.
export * as etcdserverpb from './gen/etcd-json/etcdserverpb/rpc';
export * as mvccpb from './gen/etcd-json/mvccpb/kv';
export * as authpb from './gen/etcd-json/authpb/auth';
export * as v3lockpb from './gen/etcd-json/v3lockpb/v3lock';
export * as v3electionpb from './gen/etcd-json/v3electionpb/v3election';
