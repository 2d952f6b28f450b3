// Base64 bodies spliced from a template: a campaign's body is the same static runs for every
// recipient with a few personalised values between them (greeting, links). The static runs are
// encoded once per alignment they meet and reused; per message only the values and the bytes
// around them are encoded. The result is byte for byte what encoding the joined text in one go
// gives (76-character lines joined by CRLF, nodemailer's layout), so DKIM body hashes and the
// nodemailer equivalence test are unchanged.

/** Base64 groups (4 characters, 3 bytes) per 76-character line. */
const LINE_GROUPS = 19;
/** Static runs shorter than this are encoded with the values around them (no cache entry). */
const MIN_CACHED_RUN = 64;
/** Alignments per run: 3 byte offsets × 20 columns (0…19; 19 means a line break is due). */
const MAX_VARIANTS = 60;

/** The encoded middle of a static run for one alignment, and what it leaves for the next piece. */
interface Variant {
  encoded: Buffer;
  /** The run's last 0-2 bytes, which fall into a group shared with what follows. */
  tail: Buffer;
  /** Groups on the current line after `encoded`. */
  column: number;
}

interface Run {
  bytes: Buffer;
  variants: Map<number, Variant>;
}

/** A body template: static runs with one value between each two. */
export interface Base64Template {
  /** The runs' text (runs.length = values + 1). */
  readonly runs: readonly string[];
  /**
   * The body's base64 lines for these values (no trailing line break), as pieces to join;
   * `values.length` must be `runs.length - 1`.
   */
  encode(values: readonly string[]): Buffer[];
}

/**
 * Base64 of `bytes` (a multiple of 3 bytes unless `last`) starting `column` groups into a
 * line; a line break goes before a group when the line is full. Returns the text and the
 * column after it.
 */
function encodeGroups(bytes: Buffer, column: number): { text: string; column: number } {
  const b64 = bytes.toString('base64');
  let text = '';
  let col = column;
  for (let at = 0; at < b64.length; ) {
    if (col === LINE_GROUPS) {
      text += '\r\n';
      col = 0;
    }
    const take = Math.min((LINE_GROUPS - col) * 4, b64.length - at);
    text += b64.slice(at, at + take);
    at += take;
    col += take / 4;
  }
  return { text, column: col };
}

/** The variant of `run` whose first `head` bytes were encoded before it, starting at `column`. */
function variantOf(run: Run, head: number, column: number): Variant {
  const key = head * 20 + column;
  const cached = run.variants.get(key);
  if (cached) return cached;
  const end = head + Math.floor((run.bytes.length - head) / 3) * 3;
  const middle = encodeGroups(run.bytes.subarray(head, end), column);
  const variant = {
    encoded: Buffer.from(middle.text, 'latin1'),
    tail: run.bytes.subarray(end),
    column: middle.column,
  };
  if (run.variants.size < MAX_VARIANTS) run.variants.set(key, variant);
  return variant;
}

/** Compiles a body template from its static runs (UTF-8 text); values are UTF-8 too. */
export function base64Template(runs: readonly string[]): Base64Template {
  const compiled: Run[] = runs.map((text) => ({
    bytes: Buffer.from(text, 'utf8'),
    variants: new Map(),
  }));
  return {
    runs,
    encode(values) {
      if (values.length !== compiled.length - 1)
        throw new Error(`base64 template: ${compiled.length - 1} values expected`);
      const pieces: Buffer[] = [];
      // Bytes not yet encoded (a value and the runs too short to cache), and the line column.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let column = 0;
      for (let i = 0; i < compiled.length; i++) {
        if (i > 0) {
          const value = Buffer.from(values[i - 1]!, 'utf8');
          pending.push(value);
          pendingBytes += value.length;
        }
        const run = compiled[i]!;
        const head = (3 - (pendingBytes % 3)) % 3;
        if (run.bytes.length < MIN_CACHED_RUN + head) {
          pending.push(run.bytes);
          pendingBytes += run.bytes.length;
          continue;
        }
        if (pendingBytes + head > 0) {
          pending.push(run.bytes.subarray(0, head));
          const encoded = encodeGroups(Buffer.concat(pending, pendingBytes + head), column);
          pieces.push(Buffer.from(encoded.text, 'latin1'));
          column = encoded.column;
        }
        const variant = variantOf(run, head, column);
        pieces.push(variant.encoded);
        column = variant.column;
        pending = [variant.tail];
        pendingBytes = variant.tail.length;
      }
      if (pendingBytes > 0) {
        // The last group, padded; the only piece whose length need not be a multiple of 3.
        const encoded = encodeGroups(Buffer.concat(pending, pendingBytes), column);
        pieces.push(Buffer.from(encoded.text, 'latin1'));
      }
      return pieces;
    },
  };
}

/** The text a template and values stand for (previews, the nodemailer reference). */
export function joinTemplate(template: Base64Template, values: readonly string[]): string {
  let text = template.runs[0] ?? '';
  for (let i = 1; i < template.runs.length; i++) text += values[i - 1]! + template.runs[i]!;
  return text;
}
