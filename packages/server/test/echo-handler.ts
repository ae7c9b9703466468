/**
 * The unary handler both differential suites (the lean unary path and the
 * own HTTP/2 server, each against grpc-js) call: what it does is picked by
 * the request, so every scenario is one request away.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';

/** `size` bytes that differ from one position to the next (a misplaced byte shows). */
export function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

/**
 * A handler whose behaviour the request picks: "ok" (anything else) echoes
 * what the call object shows (metadata, deadline, peer, host, path), "err"
 * fails with a gRPC error and metadata, "throw" throws, "trailer" answers
 * with trailing metadata, "headers" sends response metadata first, "bad"
 * returns something the serializer rejects, "big:N" answers N patterned
 * bytes, "hang" never answers (it is pushed to `hanging`, and `onCancelled`
 * hears the call's 'cancelled' event).
 */
export function echoHandler(options: {
  readonly hanging: (() => void)[];
  readonly onCancelled?: () => void;
}): (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => void {
  return (call, callback) => {
    const cmd = call.request.toString();
    if (cmd === 'err') {
      const md = new Metadata();
      md.set('x-err', 'detail');
      const err: ServiceError = Object.assign(new Error('etcdserver: boom, 100% (ü)'), {
        code: status.FAILED_PRECONDITION,
        details: 'etcdserver: boom, 100% (ü)',
        metadata: md,
      });
      callback(err);
      return;
    }
    if (cmd === 'throw') throw new Error('handler threw');
    if (cmd === 'hang') {
      const onCancelled = options.onCancelled;
      if (onCancelled !== undefined) call.on('cancelled', onCancelled);
      options.hanging.push(() => callback(null, Buffer.from('late')));
      return;
    }
    if (cmd.startsWith('big:')) {
      callback(null, pattern(Number(cmd.slice(4))));
      return;
    }
    if (cmd === 'bad') {
      callback(null, 'not a buffer' as unknown as Buffer);
      return;
    }
    if (cmd === 'headers') {
      const md = new Metadata();
      md.set('x-early', 'yes');
      call.sendMetadata(md);
    }
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) {
      md[k] = Buffer.isBuffer(v) ? `bin:${v.toString('hex')}` : v;
    }
    const echo = Buffer.from(
      JSON.stringify({
        request: cmd.slice(0, 40),
        length: call.request.length,
        metadata: md,
        finiteDeadline: Number.isFinite(call.getDeadline()),
        peer: /^127\.0\.0\.1:\d+$/.test(call.getPeer()),
        host: /^127\.0\.0\.1:\d+$/.test(call.getHost()),
        path: call.getPath(),
        auth: call.getAuthContext(),
      }),
    );
    if (cmd === 'trailer') {
      const t = new Metadata();
      t.set('x-trailer', 'yes');
      callback(null, echo, t);
      return;
    }
    callback(null, echo);
  };
}
