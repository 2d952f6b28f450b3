// The article formats, one row each: the one place to add a format. Detection (media type, file
// extension, a look at the text), the size limit, the parser, and the list of media types the
// API accepts (its 415 answer) all come from this table.
import { extname } from 'node:path';
import type { ArticleDraft } from './draft.ts';
import { parseHtml } from './html.ts';
import { parseJson } from './json.ts';
import { parseMarkdown } from './markdown.ts';
import { parseText } from './text.ts';

/** How Herald recognises and reads one article format. */
export interface ArticleFormatEntry {
  /** Media types that name the format (lower case, without parameters). */
  mediaTypes: readonly string[];
  /** Structured-syntax suffixes (RFC 6839) that name it too, e.g. `+json`. */
  mediaTypeSuffixes: readonly string[];
  /** File extensions that name it (lower case, with the dot). */
  extensions: readonly string[];
  /** Whether text that came with neither type nor extension looks like this format. */
  looksLike(start: string): boolean;
  /**
   * The largest body in bytes. An article's text is rarely over 100 kB; HTML pages carry
   * scripts, styles and navigation around it. Parsing also runs off the main event loop with a
   * time limit (parse-pool.ts): these caps bound memory and keep honest input well inside it.
   */
  maxBytes: number;
  /** Text to a draft; throws an ArticleInputError naming the field when it cannot. */
  parse(text: string): ArticleDraft;
}

/** In detection order: a text with no type or extension is the first format it looks like. */
export const ARTICLE_FORMATS = {
  json: {
    mediaTypes: ['application/json'],
    mediaTypeSuffixes: ['+json'],
    extensions: ['.json'],
    looksLike: (start) => start.startsWith('{'),
    maxBytes: 1024 * 1024,
    parse: parseJson,
  },
  markdown: {
    mediaTypes: ['text/markdown', 'text/x-markdown'],
    mediaTypeSuffixes: [],
    extensions: ['.md', '.markdown'],
    // `---` opens front matter; `---js` and the like too (refused by the Markdown parser).
    looksLike: (start) => /^---[^\n-]{0,40}\r?\n/.test(start),
    maxBytes: 256 * 1024,
    parse: parseMarkdown,
  },
  html: {
    mediaTypes: ['text/html', 'application/xhtml+xml'],
    mediaTypeSuffixes: [],
    extensions: ['.html', '.htm'],
    looksLike: (start) => /^<(!doctype html|html|head|body|article)\b/i.test(start),
    maxBytes: 2 * 1024 * 1024,
    parse: parseHtml,
  },
  text: {
    mediaTypes: ['text/plain'],
    mediaTypeSuffixes: [],
    extensions: ['.txt'],
    // The fallback: anything that looks like nothing else is plain text.
    looksLike: () => true,
    maxBytes: 512 * 1024,
    parse: parseText,
  },
} as const satisfies Record<string, ArticleFormatEntry>;

export type ArticleFormat = keyof typeof ARTICLE_FORMATS;

const entries = Object.entries(ARTICLE_FORMATS) as Array<[ArticleFormat, ArticleFormatEntry]>;

/** Every format name, in detection order. */
export const articleFormats = entries.map(([name]) => name);

/** The largest body per format, in bytes. */
export const MAX_FORMAT_BYTES: Readonly<Record<ArticleFormat, number>> = Object.fromEntries(
  entries.map(([name, entry]) => [name, entry.maxBytes]),
) as Record<ArticleFormat, number>;

/** A body sent as this media type has its format detected from the text itself. */
const DETECT_FROM_BODY = 'application/octet-stream';

/** The format a media type (parameters allowed, any case) names, or null. */
export function formatOfMediaType(contentType: string | undefined): ArticleFormat | null {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (!type) return null;
  for (const [name, entry] of entries) {
    if (entry.mediaTypes.includes(type)) return name;
    if (entry.mediaTypeSuffixes.some((suffix) => type.endsWith(suffix))) return name;
  }
  return null;
}

/** The format a file name's extension names, or null. */
export function formatOfFilename(filename: string | undefined): ArticleFormat | null {
  if (!filename) return null;
  const ext = extname(filename).toLowerCase();
  return entries.find(([, entry]) => entry.extensions.includes(ext))?.[0] ?? null;
}

/** Picks the format from the content type, then the file extension, then the text itself. */
export function detectFormat(text: string, filename?: string, contentType?: string): ArticleFormat {
  const named = formatOfMediaType(contentType) ?? formatOfFilename(filename);
  if (named) return named;
  const start = text.trimStart();
  return entries.find(([, entry]) => entry.looksLike(start))?.[0] ?? 'text';
}

/** The media types an article may be posted as, for a 415's message. */
export const acceptedMediaTypes: readonly string[] = [
  ...entries.flatMap(([, entry]) => [
    ...entry.mediaTypes,
    ...entry.mediaTypeSuffixes.map((suffix) => `*/*${suffix}`),
  ]),
  DETECT_FROM_BODY,
];

/** Whether an article may be posted as this media type (none at all: detected from the body). */
export function isAcceptedMediaType(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return !type || type === DETECT_FROM_BODY || formatOfMediaType(type) !== null;
}
