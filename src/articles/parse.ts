// Turns raw input (plain text, Markdown with front matter, JSON, HTML) into one validated Article.
import { extname } from 'node:path';
import type { ArticleDraft } from './draft.ts';
import { ArticleInputError } from './errors.ts';
import { parseHtml } from './html.ts';
import { parseMarkdown } from './markdown.ts';
import { type Article, articleBlockSchema, articleSchema, paragraphsOf } from './schema.ts';
import { parseText } from './text.ts';

export { ArticleInputError } from './errors.ts';

/** The largest article body accepted in any format, in bytes (checked before decoding). */
export const MAX_ARTICLE_BYTES = 2 * 1024 * 1024;

export const articleFormats = ['text', 'markdown', 'json', 'html'] as const;
export type ArticleFormat = (typeof articleFormats)[number];

/**
 * The largest body per format, in bytes. An article's text is rarely over 100 kB; HTML pages
 * carry scripts, styles and navigation around it. Parsing also runs off the main event loop
 * with a time limit (src/articles/parse-pool.ts): these caps bound memory and keep honest
 * input well inside that limit.
 */
export const MAX_FORMAT_BYTES: Readonly<Record<ArticleFormat, number>> = {
  text: 512 * 1024,
  markdown: 256 * 1024,
  json: 1024 * 1024,
  html: 2 * 1024 * 1024,
};

/** "512 kB" or "2 MB". */
function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MB` : `${bytes / 1024} kB`;
}

export interface ArticleInput {
  body: string | Buffer;
  filename?: string;
  contentType?: string;
}

/** Decodes the body as UTF-8 text, refusing empty, oversized and binary input. */
function textOf(body: string | Buffer): string {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > MAX_ARTICLE_BYTES) {
    throw new ArticleInputError(
      'body',
      `the article is ${(size / 1024 / 1024).toFixed(1)} MB; the limit is ${sizeText(MAX_ARTICLE_BYTES)}`,
    );
  }
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new ArticleInputError('body', 'the article is binary data, not UTF-8 text');
    }
  }
  // NUL and other C0 controls (bar tab, newline, carriage return, form feed) mean binary data.
  if (/[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    throw new ArticleInputError('body', 'the article is binary data, not text');
  }
  text = text.replace(/^\uFEFF/, '');
  if (text.trim().length === 0) throw new ArticleInputError('body', 'the article is empty');
  return text;
}

/** Picks the format from the content type, then the file extension, then the text itself. */
export function detectFormat(text: string, filename?: string, contentType?: string): ArticleFormat {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type) {
    if (type === 'application/json' || type.endsWith('+json')) return 'json';
    if (type === 'text/markdown' || type === 'text/x-markdown') return 'markdown';
    if (type === 'text/html' || type === 'application/xhtml+xml') return 'html';
    if (type === 'text/plain') return 'text';
  }
  const ext = filename ? extname(filename).toLowerCase() : '';
  if (ext === '.json') return 'json';
  if (ext === '.md' || ext === '.markdown') return 'markdown';
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.txt') return 'text';
  const start = text.trimStart();
  if (start.startsWith('{')) return 'json';
  // `---` opens front matter; `---js` and the like too (refused by the Markdown parser).
  if (/^---[^\n-]{0,40}\r?\n/.test(start)) return 'markdown';
  if (/^<(!doctype html|html|head|body|article)\b/i.test(start)) return 'html';
  return 'text';
}

/** Parses JSON text into a draft; the Article schema checks the fields afterwards. */
function parseJson(text: string): ArticleDraft {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ArticleInputError('body', `the article is not valid JSON: ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArticleInputError('body', 'a JSON article must be an object with at least a title');
  }
  return value as ArticleDraft;
}

/** Drops undefined, null and empty-string fields so optional fields stay absent. */
function compact(draft: ArticleDraft): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(draft)) {
    if (value === undefined || value === null || value === '') continue;
    out[key] = typeof value === 'string' ? value.trim() : value;
  }
  return out;
}

/**
 * Parses one article from text, Markdown, JSON or HTML into a validated Article; throws an
 * ArticleInputError naming the field when the input cannot make one.
 */
export function parseArticle(input: ArticleInput): Article {
  const text = textOf(input.body);
  const format = detectFormat(text, input.filename, input.contentType);
  const size = Buffer.byteLength(text, 'utf8');
  const limit = MAX_FORMAT_BYTES[format];
  if (size > limit) {
    throw new ArticleInputError(
      'body',
      `the ${format} article is ${sizeText(Math.ceil(size / 1024) * 1024)}; the limit for ${format} is ${sizeText(limit)}`,
    );
  }
  const draft =
    format === 'json'
      ? parseJson(text)
      : format === 'markdown'
        ? parseMarkdown(text)
        : format === 'html'
          ? parseHtml(text)
          : parseText(text);
  const fields = compact(draft);
  // A JSON article may bring blocks alone: its paragraphs are then their text.
  if (fields.paragraphs === undefined && Array.isArray(fields.blocks)) {
    const blocks = articleBlockSchema.array().safeParse(fields.blocks);
    if (blocks.success) fields.paragraphs = paragraphsOf(blocks.data);
  }
  if (Array.isArray(fields.blocks) && fields.blocks.length === 0) delete fields.blocks;
  if (typeof fields.title !== 'string' || fields.title.trim().length === 0) {
    throw new ArticleInputError('title', `the ${format} article has no title`);
  }
  const result = articleSchema.safeParse(fields);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'body';
    throw new ArticleInputError(field, `${field}: ${issue?.message ?? 'invalid article'}`);
  }
  return result.data;
}
