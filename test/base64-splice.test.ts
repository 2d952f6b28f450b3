// Spliced base64 bodies decode to exactly the joined text, whatever the runs' and values'
// lengths (every byte alignment), UTF-8 split anywhere; every line is RFC 2045 base64.
import { describe, expect, it } from 'vitest';
import { base64Template, joinTemplate } from '../src/mail/base64-splice.ts';

/**
 * Checks a spliced body: lines of at most 76 base64 characters, each a whole number of groups
 * with padding only at the very end, joined by CRLF; returns the decoded text.
 */
function decode(body: Buffer): string {
  const text = body.toString('latin1');
  if (text === '') return '';
  const lines = text.split('\r\n');
  const bad = lines.filter((line, index) => {
    const shape = index === lines.length - 1 ? /^[A-Za-z0-9+/]+={0,2}$/ : /^[A-Za-z0-9+/]+$/;
    return line.length === 0 || line.length > 76 || line.length % 4 !== 0 || !shape.test(line);
  });
  expect(bad).toEqual([]);
  return Buffer.from(lines.join(''), 'base64').toString('utf8');
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
  it('decodes to exactly the joined text, over many shapes', () => {
    const next = random(7);
    for (let round = 0; round < 200; round++) {
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
        const spliced = Buffer.concat(template.encode(values));
        expect(decode(spliced)).toBe(joinTemplate(template, values));
      }
    }
  });

  it('handles an empty body and empty values', () => {
    expect(Buffer.concat(base64Template(['']).encode([])).toString()).toBe('');
    const template = base64Template(['x'.repeat(100), '', 'y'.repeat(57)]);
    expect(decode(Buffer.concat(template.encode(['', ''])))).toBe(
      `${'x'.repeat(100)}${'y'.repeat(57)}`,
    );
  });

  it('keeps at most three encodings of a run, however many messages it serves', () => {
    const template = base64Template(['a'.repeat(5_000), 'b'.repeat(5_000)]);
    const seen = new Set<Buffer>();
    for (let length = 0; length < 200; length++) {
      const pieces = template.encode(['v'.repeat(length)]);
      for (const piece of pieces) if (piece.length > 1_000) seen.add(piece);
    }
    // The first run's one encoding and the second's three byte alignments.
    expect(seen.size).toBe(4);
  });

  it('refuses the wrong number of values', () => {
    expect(() => base64Template(['a', 'b']).encode([])).toThrow(/1 values expected/);
  });
});
