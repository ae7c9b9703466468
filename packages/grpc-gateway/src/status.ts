// gRPC status codes and the HTTP statuses grpc-gateway answers them with.
// etcd 3.4 and 3.5 ship grpc-gateway v1; etcd 3.6 moved to v2, which changed
// two rows (CANCELLED and FAILED_PRECONDITION), so both tables are kept.

/** gRPC status codes, by name. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code (0-16). */
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** Which grpc-gateway generation's code → HTTP status table to use. */
export type StatusMapping = 'v1' | 'v2';

// Indexed by gRPC code.
const V1_STATUS: readonly number[] = [
  200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401,
];

/** HTTP status grpc-gateway answers a gRPC status code with. Unknown codes give 500. */
export function httpStatusFromGrpcCode(code: number, mapping: StatusMapping = 'v1'): number {
  if (mapping === 'v2') {
    if (code === GrpcCode.CANCELLED) return 499;
    if (code === GrpcCode.FAILED_PRECONDITION) return 400;
  }
  return V1_STATUS[code] ?? 500;
}

// Go's http.StatusText for the statuses above; grpc-gateway v1 writes it into
// stream error chunks.
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  499: '',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? '';
}

/**
 * An error carrying a gRPC status code. Backends may throw it (or any error
 * with a numeric `code` and a `details` or `message` string, such as a
 * grpc-js `ServiceError`); the gateway turns it into grpc-gateway's error body.
 */
export class GatewayError extends Error {
  /** gRPC status code. */
  readonly code: GrpcCode;

  constructor(code: GrpcCode, message: string) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/** A gRPC status as the gateway reports it. */
export interface GrpcStatus {
  readonly code: number;
  readonly message: string;
}

/**
 * Reads the gRPC status out of anything a backend threw. grpc-js errors keep
 * the server's text in `details` (their `message` is prefixed with the code);
 * errors without a usable code are UNKNOWN, as grpc-gateway treats them.
 */
export function statusOf(err: unknown): GrpcStatus {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    const message =
      typeof e.details === 'string' && e.details !== ''
        ? e.details
        : typeof e.message === 'string'
          ? e.message
          : 'unknown error';
    if (typeof e.code === 'number' && Number.isInteger(e.code) && e.code > 0 && e.code <= 16) {
      return { code: e.code, message };
    }
    return { code: GrpcCode.UNKNOWN, message };
  }
  return { code: GrpcCode.UNKNOWN, message: String(err) };
}
