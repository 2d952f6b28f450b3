// Spliced base64 bodies: the same bytes as encoding the joined text in one go, whatever the
// runs' and values' lengths (every alignment and line column), UTF-8 split anywhere.
import { describe, expect, it } from 'vitest';
import { base64Template, joinTemplate } from '../src/mail/base64-splice.ts';

/** The reference: base64 of the whole text in 76-character lines joined by CRLF. */
function whole(text: string): string {
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  const lines: string[] = [];
  for (let at = 0; at < b64.length; at += 76) lines.push(b64.slice(at, at + 76));
  return lines.join('\r\n');
}

/** A small seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const ALPHABET = 'abcdefghij <>="&\r\n.éü日本語—';

function text(next: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return out;
}

describe('base64 template', () => {
  it('encodes runs and values exactly as the joined text, over many shapes', () => {
    const next = random(7);
    for (let round = 0; round < 300; round++) {
      const runCount = 1 + Math.floor(next() * 6);
      const runs = Array.from({ length: runCount }, () =>
        text(next, Math.floor(next() * (next() < 0.3 ? 10 : 3_000))),
      );
      const template = base64Template(runs);
      // The same template for several messages: cached alignments are reused and must agree.
      for (let message = 0; message < 5; message++) {
        const values = Array.from({ length: runCount - 1 }, () =>
          text(next, Math.floor(next() * 200)),
        );
        const spliced = Buffer.concat(template.encode(values)).toString('latin1');
        expect(spliced).toBe(whole(joinTemplate(template, values)));
      }
    }
  });

  it('handles an empty body and empty values', () => {
    expect(Buffer.concat(base64Template(['']).encode([])).toString()).toBe('');
    const template = base64Template(['x'.repeat(100), '', 'y'.repeat(57)]);
    expect(Buffer.concat(template.encode(['', ''])).toString()).toBe(
      whole(`${'x'.repeat(100)}${'y'.repeat(57)}`),
    );
  });

  it('refuses the wrong number of values', () => {
    expect(() => base64Template(['a', 'b']).encode([])).toThrow(/1 values expected/);
  });
});
