// The guard in front of the CSV parser: an import row is one physical line (no field of
// email,name,topics,timezone,digest may hold a line break), so a line that is too long or
// leaves a quote open is rejected by itself. csv-parse alone cannot do that: an open quote
// swallows every later line, and its max_record_size either aborts the import or, with
// skip_records_with_error, silently drops the rest of the input.

import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Longest line accepted, in characters (a valid row is far below: 254 + 200 + topics…). */
export const MAX_LINE_CHARS = 16 * 1024;

export interface GuardedLine {
  /** Line number in the file (the first line is 1). */
  line: number;
  reason: string;
}

/**
 * Passes the CSV through line by line; a line longer than `maxChars`, or with an odd number
 * of `"` (a quote left open), is replaced by an empty line (so the parser's line numbers
 * still match the file) and reported to `onRejected`. Never holds more than one line.
 */
export function guardCsvLines(
  onRejected: (rejected: GuardedLine) => void,
  maxChars: number = MAX_LINE_CHARS,
): Transform {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  /** The current line went over the cap: drop everything up to its end. */
  let overlong = false;
  let line = 1;

  const endLine = (text: string, terminator: string, push: (chunk: string) => void) => {
    if (overlong) {
      onRejected({ line, reason: `line longer than ${maxChars} characters` });
      push(terminator);
    } else if (countQuotes(text) % 2 === 1) {
      onRejected({ line, reason: 'unclosed quote' });
      push(terminator);
    } else {
      push(text + terminator);
    }
    overlong = false;
    line += 1;
  };

  const take = (text: string, push: (chunk: string) => void) => {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline < 0) break;
      let piece = text.slice(start, newline);
      let terminator = '\n';
      if (piece.endsWith('\r')) {
        piece = piece.slice(0, -1);
        terminator = '\r\n';
      }
      const whole = overlong ? '' : partial + piece;
      partial = '';
      if (whole.length > maxChars) overlong = true;
      endLine(whole, terminator, push);
      start = newline + 1;
    }
    if (overlong) return;
    partial += text.slice(start);
    if (partial.length > maxChars) {
      overlong = true;
      partial = '';
    }
  };

  return new Transform({
    // Strings out: the parser reads them as they are.
    readableObjectMode: false,
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      take(text, (out) => this.push(out));
      callback();
    },
    flush(callback: TransformCallback) {
      take(decoder.end(), (out) => this.push(out));
      if (overlong || partial !== '') endLine(partial, '\n', (out) => this.push(out));
      callback();
    },
  });
}

function countQuotes(text: string): number {
  let count = 0;
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) count += 1;
  return count;
}
