/**
 * The recorded history: one entry per client operation, with its invocation
 * and return times and its result, or no result when the outcome is unknown
 * (timeout, connection lost): such an operation may or may not have taken
 * effect, so the checker may linearize it anywhere after its invocation.
 */

/** What a client asked for. Every operation touches exactly one key. */
export type OpInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease?: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  | {
      readonly kind: 'cas';
      readonly key: string;
      readonly expected: string;
      readonly value: string;
    }
  | { readonly kind: 'revoke'; readonly key: string; readonly lease: string };

/** What the cluster answered. */
export type OpOutput =
  | { readonly kind: 'put' }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'delete'; readonly deleted: number }
  | { readonly kind: 'cas'; readonly succeeded: boolean; readonly value: string | null }
  | { readonly kind: 'revoke' };

/** One operation of the history. */
export interface Operation {
  readonly id: number;
  readonly client: number;
  /** Index of the member the request went to. */
  readonly member: number;
  readonly input: OpInput;
  /** Invocation time (ms, monotonic). */
  readonly call: number;
  /** Return time; `Infinity` when the outcome is unknown. */
  readonly ret: number;
  /** `undefined` when the outcome is unknown. */
  readonly output: OpOutput | undefined;
  /** Store revision of the response header (or of the write), when known. */
  readonly revision?: number;
}
