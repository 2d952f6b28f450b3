// Base64 bodies spliced from a template: a campaign's body is the same static runs for every
// recipient with a few personalised values between them (greeting, links). Each static run is
// encoded once per byte alignment it meets (at most three) and reused; per message only the
// values and the 0-2 bytes of the runs around them are encoded. Lines restart at each piece,
// so a body's lines are up to 76 characters (RFC 2045), each a whole number of base64 groups:
// it decodes to exactly the joined text. Keeping nodemailer's continuous line layout instead
// needed a copy of each run per line column too (57 per run, ~2 MB a campaign per process).

/** Base64 characters per line (RFC 2045's limit). */
const LINE_CHARS = 76;
const CRLF = Buffer.from('\r\n', 'latin1');
/** Static runs shorter than this are encoded with the values around them (no cache entry). */
const MIN_CACHED_RUN = 64;

/** The encoded middle of a static run for one alignment, and the bytes it leaves over. */
interface Variant {
  encoded: Buffer;
  /** The run's last 0-2 bytes, which fall into a group shared with what follows. */
  tail: Buffer;
}

interface Run {
  bytes: Buffer;
  /** By how many of the run's first bytes were encoded with what came before (0-2). */
  variants: Array<Variant | undefined>;
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

/** `bytes` as base64 in lines of at most 76 characters joined by CRLF (no trailing CRLF). */
function base64Lines(bytes: Buffer): Buffer {
  const b64 = bytes.toString('base64');
  if (b64.length <= LINE_CHARS) return Buffer.from(b64, 'latin1');
  const lines: string[] = [];
  for (let at = 0; at < b64.length; at += LINE_CHARS) lines.push(b64.slice(at, at + LINE_CHARS));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** The variant of `run` whose first `head` bytes were encoded with the piece before it. */
function variantOf(run: Run, head: number): Variant {
  const cached = run.variants[head];
  if (cached) return cached;
  const end = head + Math.floor((run.bytes.length - head) / 3) * 3;
  const variant = {
    encoded: base64Lines(run.bytes.subarray(head, end)),
    tail: run.bytes.subarray(end),
  };
  run.variants[head] = variant;
  return variant;
}

/** Compiles a body template from its static runs (UTF-8 text); values are UTF-8 too. */
export function base64Template(runs: readonly string[]): Base64Template {
  const compiled: Run[] = runs.map((text) => ({
    bytes: Buffer.from(text, 'utf8'),
    variants: [],
  }));
  return {
    runs,
    encode(values) {
      if (values.length !== compiled.length - 1)
        throw new Error(`base64 template: ${compiled.length - 1} values expected`);
      const pieces: Buffer[] = [];
      const add = (piece: Buffer) => {
        if (piece.length === 0) return;
        if (pieces.length > 0) pieces.push(CRLF);
        pieces.push(piece);
      };
      // Bytes not yet encoded: a value, the runs too short to cache, a run's 0-2 tail bytes.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for (let i = 0; i < compiled.length; i++) {
        if (i > 0) {
          const value = Buffer.from(values[i - 1]!, 'utf8');
          pending.push(value);
          pendingBytes += value.length;
        }
        const run = compiled[i]!;
        // Bytes of this run that complete the pending bytes' last base64 group.
        const head = (3 - (pendingBytes % 3)) % 3;
        if (run.bytes.length < MIN_CACHED_RUN + head) {
          pending.push(run.bytes);
          pendingBytes += run.bytes.length;
          continue;
        }
        if (pendingBytes + head > 0) {
          pending.push(run.bytes.subarray(0, head));
          add(base64Lines(Buffer.concat(pending, pendingBytes + head)));
        }
        const variant = variantOf(run, head);
        add(variant.encoded);
        pending = [variant.tail];
        pendingBytes = variant.tail.length;
      }
      // The last group, padded: the only piece whose bytes need not be a multiple of 3.
      if (pendingBytes > 0) add(base64Lines(Buffer.concat(pending, pendingBytes)));
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
