// Splits a byte stream into consecutive top-level JSON values, the way Go's
// json.Decoder reads grpc-gateway request bodies: a watch body is a sequence
// of request objects that may arrive over time, separated by anything or
// nothing. Only the boundaries are found here; JSON.parse validates values.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function isDelimiter(b: number): boolean {
  return (
    isSpace(b) ||
    b === OPEN_BRACE ||
    b === CLOSE_BRACE ||
    b === OPEN_BRACKET ||
    b === CLOSE_BRACKET ||
    b === QUOTE ||
    b === 0x2c || // ,
    b === 0x3a // :
  );
}

/** Thrown when one JSON value is larger than the configured limit. */
export class ValueTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`gateway: request message larger than max (${limit} bytes)`);
    this.name = 'ValueTooLargeError';
  }
}

/** Thrown when the stream ends inside a value. */
export class UnexpectedEofError extends Error {
  constructor() {
    super('unexpected EOF');
    this.name = 'UnexpectedEofError';
  }
}

/**
 * Incremental splitter: `push` bytes, get back the text of every value that
 * completed; `end` returns a final scalar value (`null`, `12`) that only the
 * end of input terminates, or throws if a container or string is unfinished.
 */
export class JsonValueSplitter {
  private buf: Buffer = Buffer.alloc(0);
  // Scan state of the value being read; `start` < 0 means between values.
  private start = -1;
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scalar = false;

  constructor(private readonly maxValueBytes: number) {}

  push(chunk: Uint8Array): string[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: string[] = [];
    const buf = this.buf;
    while (this.pos < buf.length) {
      const b = buf[this.pos]!;
      if (this.start < 0) {
        if (isSpace(b)) {
          this.pos++;
          continue;
        }
        this.start = this.pos;
        this.depth = 0;
        this.inString = false;
        this.escaped = false;
        this.scalar = !(b === OPEN_BRACE || b === OPEN_BRACKET || b === QUOTE);
      }
      if (this.scanByte(b)) {
        const endExclusive = this.scalar ? this.pos : this.pos + 1;
        if (endExclusive - this.start > this.maxValueBytes) {
          throw new ValueTooLargeError(this.maxValueBytes);
        }
        out.push(buf.toString('utf8', this.start, endExclusive));
        this.pos = endExclusive;
        this.start = -1;
        continue;
      }
      this.pos++;
    }
    this.compact();
    if (this.start >= 0 && this.pos - this.start > this.maxValueBytes) {
      throw new ValueTooLargeError(this.maxValueBytes);
    }
    return out;
  }

  /** Whether a value has started but not finished. */
  get pending(): boolean {
    return this.start >= 0;
  }

  end(): string | undefined {
    if (this.start < 0) return undefined;
    if (this.scalar) {
      const text = this.buf.toString('utf8', this.start, this.pos);
      this.start = -1;
      return text;
    }
    throw new UnexpectedEofError();
  }

  // Returns true when the byte at `pos` completes the current value (for a
  // scalar: when it is the first byte after it).
  private scanByte(b: number): boolean {
    if (this.scalar) {
      return this.pos > this.start && isDelimiter(b);
    }
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (b === BACKSLASH) this.escaped = true;
      else if (b === QUOTE) {
        this.inString = false;
        return this.depth === 0;
      }
      return false;
    }
    if (b === QUOTE) this.inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
    else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      this.depth--;
      return this.depth <= 0;
    }
    return false;
  }

  // Drops consumed bytes so a long watch body does not accumulate.
  private compact(): void {
    const keepFrom = this.start >= 0 ? this.start : this.pos;
    if (keepFrom === 0) return;
    this.buf = this.buf.subarray(keepFrom);
    this.pos -= keepFrom;
    if (this.start >= 0) this.start = 0;
  }
}
