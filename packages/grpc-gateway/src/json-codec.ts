// Request JSON → message and message → response JSON, with the conventions
// of etcd's gateway: proto field names, defaults omitted, int64 as strings,
// bytes as base64 (all but the names come from the generated toJSON), and
// Go's HTML-safe string escaping.
import type { RequestCodec, ResponseCodec } from './codecs';

/** A request body that is not a valid request message; answered with 400. */
export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

/**
 * Decodes one JSON value of a request body. Like grpc-gateway, `null` means
 * the default message and anything but an object is rejected; field names may
 * be etcd's (`range_end`) or proto3 JSON's (`rangeEnd`).
 */
export function decodeRequest(
  codec: RequestCodec,
  text: string | undefined,
  bytesKeys: ReadonlySet<string> = BYTES_KEYS,
): unknown {
  if (text === undefined) return codec.fromJSON({});
  let value: unknown;
  try {
    value = JSON.parse(LONG_DIGIT_RUN.test(text) ? quoteLongIntegers(text) : text);
  } catch (err) {
    throw new BadRequestError(describe(err));
  }
  if (value === null) return codec.fromJSON({});
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError(
      `json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into a request message`,
    );
  }
  checkBytesFields(value, bytesKeys);
  try {
    // The generated fromJSON throws on values it cannot convert (a fraction
    // for an int64, an unknown enum name, a number for a bytes field).
    return codec.fromJSON(value);
  } catch (err) {
    throw new BadRequestError(describe(err));
  }
}

// int64 IDs are often sent as bare JSON numbers (etcd's own docs do:
// `{"ID":7587821338341002422}`), which JSON.parse would round to a double.
// Integer literals too long to be exact doubles are turned into strings
// first; the generated fromJSON reads int64 fields from strings exactly.
const LONG_DIGIT_RUN = /\d{16}/;

function quoteLongIntegers(text: string): string {
  let out = '';
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    if (!isDigit && c !== 0x2d) continue;
    let end = i + 1;
    while (end < text.length && /[0-9.eE+-]/.test(text[end]!)) end++;
    const literal = text.slice(i, end);
    if (/^-?\d{16,}$/.test(literal)) {
      out += `${text.slice(copiedTo, i)}"${literal}"`;
      copiedTo = end;
    }
    i = end - 1;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}

/**
 * JSON keys of the `bytes` fields of etcd's request messages: `key`,
 * `range_end` and `value` wherever they occur, plus `name` in the Lock and
 * Election services (elsewhere `name` is a string).
 */
export const BYTES_KEYS: ReadonlySet<string> = new Set(['key', 'range_end', 'rangeEnd', 'value']);

/** {@link BYTES_KEYS} plus `name`, for the Lock and Election services. */
export const BYTES_KEYS_WITH_NAME: ReadonlySet<string> = new Set([...BYTES_KEYS, 'name']);

// Node's base64 decoder skips what it does not understand, so a plain-text
// key ("foo") would silently become other bytes. Go's decoder (standard
// alphabet, padding required, CR and LF ignored) rejects it; so do we.
function checkBytesFields(value: unknown, bytesKeys: ReadonlySet<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) checkBytesFields(item, bytesKeys);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' && bytesKeys.has(k)) checkBase64(v);
    else checkBytesFields(v, bytesKeys);
  }
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f // /
  );
}

function checkBase64(text: string): void {
  // Positions refer to the text without line breaks, as in Go's errors.
  const s = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
  for (let quantum = 0; quantum < s.length; quantum += 4) {
    const end = Math.min(quantum + 4, s.length);
    let pad = 0;
    for (let i = quantum; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x3d && i - quantum >= 2) {
        pad++;
        continue;
      }
      if (pad > 0 || !isBase64Char(c)) throw illegalBase64(i);
    }
    if (end - quantum < 4) throw illegalBase64(quantum);
    if (pad > 0 && end !== s.length) throw illegalBase64(end);
  }
}

function illegalBase64(at: number): BadRequestError {
  return new BadRequestError(`illegal base64 data at input byte ${at}`);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The JSON object etcd's gateway writes for a response message. */
export function responseJson(codec: ResponseCodec, message: unknown): unknown {
  return codec.toJSON(message as never);
}

// Go's encoding/json escapes these inside strings so that JSON can be embedded
// in HTML; etcd's gateway output has them escaped, and a byte-for-byte
// comparison with it should hold. They can only occur inside strings.
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON.stringify with Go's HTML-safe escaping. */
export function stringifyGoStyle(value: unknown): string {
  return JSON.stringify(value).replace(HTML_UNSAFE, (c) => ESCAPES[c] ?? c);
}
