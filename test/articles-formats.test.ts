// The article-format table: detection by media type, extension and text; the per-format size
// limit; the parser each row names; the media types the API accepts. Unit tests: no Redis, no
// database.
import { describe, expect, it } from 'vitest';
import {
  ARTICLE_FORMATS,
  type ArticleFormat,
  acceptedMediaTypes,
  articleFormats,
  detectFormat,
  formatOfFilename,
  formatOfMediaType,
  isAcceptedMediaType,
} from '../src/articles/formats.ts';
import { ArticleInputError, parseArticle } from '../src/articles/parse.ts';

/** One small article per format: adding a row to the table without a sample fails here. */
const SAMPLES: Record<ArticleFormat, { body: string; title: string }> = {
  json: { body: '{"title":"Grain deal","paragraphs":["Ships sail."]}', title: 'Grain deal' },
  markdown: {
    body: '---\ntitle: Grain deal\n---\n\nShips sail from Odesa again.\n',
    title: 'Grain deal',
  },
  html: {
    body: '<!doctype html><html><head><title>Grain deal</title></head><body><article><h1>Grain deal</h1><p>Ships sail from Odesa again, officials said on Monday.</p></article></body></html>',
    title: 'Grain deal',
  },
  text: { body: 'Grain deal\n\nShips sail from Odesa again.\n', title: 'Grain deal' },
};

describe('article format table', () => {
  it('has a sample for every format, in detection order, text last as the fallback', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...articleFormats].sort());
    expect(articleFormats.at(-1)).toBe('text');
  });

  it.each(articleFormats)('%s: each media type and extension names it', (format) => {
    const entry = ARTICLE_FORMATS[format];
    for (const type of entry.mediaTypes) {
      expect(formatOfMediaType(type)).toBe(format);
      expect(formatOfMediaType(`${type.toUpperCase()}; charset=utf-8`)).toBe(format);
      expect(isAcceptedMediaType(type)).toBe(true);
      expect(acceptedMediaTypes).toContain(type);
    }
    for (const ext of entry.extensions) {
      expect(formatOfFilename(`dir/article${ext}`)).toBe(format);
      expect(formatOfFilename(`ARTICLE${ext.toUpperCase()}`)).toBe(format);
    }
  });

  it.each(articleFormats)('%s: its sample is detected from the text alone and parsed', (format) => {
    const sample = SAMPLES[format];
    expect(detectFormat(sample.body)).toBe(format);
    expect(parseArticle({ body: sample.body }).title).toBe(sample.title);
    // Named by its media type, the same body parses the same way.
    const [type] = ARTICLE_FORMATS[format].mediaTypes;
    expect(parseArticle({ body: sample.body, contentType: type }).title).toBe(sample.title);
  });

  it('prefers the content type, then the extension, then the text', () => {
    expect(detectFormat('{"title":"x"}', 'a.md', 'text/html')).toBe('html');
    expect(detectFormat('{"title":"x"}', 'a.md')).toBe('markdown');
    expect(detectFormat('{"title":"x"}', 'a.md', 'application/octet-stream')).toBe('markdown');
    expect(detectFormat('{"title":"x"}', 'a.unknown')).toBe('json');
    expect(detectFormat('<html><p>x</p></html>', '.md')).toBe('html');
    expect(formatOfMediaType('application/ld+json')).toBe('json');
    expect(formatOfMediaType('image/png')).toBeNull();
    expect(formatOfFilename('notes')).toBeNull();
  });

  it('accepts no type or octet-stream (detected from the body) and refuses others', () => {
    expect(isAcceptedMediaType(undefined)).toBe(true);
    expect(isAcceptedMediaType('application/octet-stream')).toBe(true);
    expect(isAcceptedMediaType('application/vnd.api+json')).toBe(true);
    expect(isAcceptedMediaType('image/png')).toBe(false);
    expect(isAcceptedMediaType('multipart/form-data; boundary=x')).toBe(false);
    expect(acceptedMediaTypes).toContain('application/octet-stream');
  });

  it.each(articleFormats.filter((format) => ARTICLE_FORMATS[format].maxBytes < 2 * 1024 * 1024))(
    '%s: a body over its own limit is refused naming the format',
    (format) => {
      const entry = ARTICLE_FORMATS[format];
      const body = `${SAMPLES[format].body}${' '.repeat(entry.maxBytes)}`;
      const [type] = entry.mediaTypes;
      expect(() => parseArticle({ body, contentType: type })).toThrow(ArticleInputError);
      expect(() => parseArticle({ body, contentType: type })).toThrow(`the limit for ${format} is`);
    },
  );
});
