import type { Message } from './types';
import { MessageType } from './types';

/**
 * Responses vouch for durable state (an appended log, a recorded vote), so
 * they may only leave once the Ready's entries and hard state are persisted.
 * Everything else (the leader's appends, heartbeats, vote requests) may be
 * sent in parallel with the write.
 */
export function mustPersistBeforeSend(m: Message): boolean {
  return (
    m.type === MessageType.MsgAppResp ||
    m.type === MessageType.MsgVoteResp ||
    m.type === MessageType.MsgPreVoteResp
  );
}
