// --target-leader (etcd's benchmark flag): find which endpoint is the Raft
// leader, so that single-connection rows measure the same path on every run
// instead of whichever member happens to be listed first.

import { credentials, Metadata } from '@grpc/grpc-js';
import { etcdserverpb, MaintenanceClient } from '@kv/api';

/** Maintenance.Status of one endpoint: its own member ID and the leader it knows. */
async function status(endpoint: string, timeoutMs: number): Promise<etcdserverpb.StatusResponse> {
  const client = new MaintenanceClient(endpoint, credentials.createInsecure());
  try {
    return await new Promise<etcdserverpb.StatusResponse>((resolve, reject) => {
      client.status(
        etcdserverpb.StatusRequest.fromPartial({}),
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) =>
          err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res),
      );
    });
  } finally {
    client.close();
  }
}

/**
 * The endpoint whose member is the leader, asking each endpoint in turn (as
 * etcd's benchmark does: the member whose ID equals the leader it reports).
 * Throws if none of them is the leader.
 */
export async function findLeaderEndpoint(
  endpoints: readonly string[],
  timeoutMs = 5000,
): Promise<string> {
  const problems: string[] = [];
  for (const endpoint of endpoints) {
    try {
      const s = await status(endpoint, timeoutMs);
      const self = s.header?.memberId;
      if (self !== undefined && s.leader !== 0n && s.leader === self) return endpoint;
    } catch (err) {
      problems.push(`${endpoint}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(
    `--target-leader: no leader among ${endpoints.join(',')}${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`,
  );
}
