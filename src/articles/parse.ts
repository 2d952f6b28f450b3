// Turns raw input (plain text, Markdown with front matter, JSON, HTML: the formats in
// formats.ts) into one validated Article.
import type { ArticleDraft } from './draft.ts';
import { ArticleInputError } from './errors.ts';
import { ARTICLE_FORMATS, detectFormat } from './formats.ts';
import { type Article, articleBlockSchema, articleSchema, paragraphsOf } from './schema.ts';

export { ArticleInputError } from './errors.ts';

/** The largest article body accepted in any format, in bytes (checked before decoding). */
export const MAX_ARTICLE_BYTES = 2 * 1024 * 1024;

export { type ArticleFormat, articleFormats, detectFormat, MAX_FORMAT_BYTES } from './formats.ts';

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
  const limit = ARTICLE_FORMATS[format].maxBytes;
  if (size > limit) {
    throw new ArticleInputError(
      'body',
      `the ${format} article is ${sizeText(Math.ceil(size / 1024) * 1024)}; the limit for ${format} is ${sizeText(limit)}`,
    );
  }
  const draft = ARTICLE_FORMATS[format].parse(text);
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
