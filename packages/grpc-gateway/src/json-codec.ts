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
export function decodeRequest(codec: RequestCodec, text: string | undefined): unknown {
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
