// Markdown with YAML front matter (title, standfirst, topics, image, url, publishedAt, source, byline).
import matter from 'gray-matter';
import type { ArticleDraft } from './draft.ts';
import { ArticleInputError } from './errors.ts';
import { squash, takeAgencyTag } from './furniture.ts';

/** Turns inline Markdown into plain text (links keep their words, emphasis its text). */
export function markdownInline(text: string): string {
  return squash(
    text
      .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
      .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
      .replace(/`([^`]+)`/g, '$1')
      .replace(/(\*\*|__)(.+?)\1/g, '$2')
      .replace(/(^|[^\p{L}\p{N}])[*_]([^*_]+)[*_](?![\p{L}\p{N}])/gu, '$1$2')
      .replace(/\\([\\`*_{}[\]()#+\-.!>])/g, '$1'),
  );
}

/** Front-matter dates come back from YAML as Date objects; the schema wants ISO text. */
function isoOf(value: unknown): unknown {
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  return value;
}

/** Topics may be written as a YAML list or as "a;b". */
function topicsOf(value: unknown): unknown {
  if (typeof value === 'string')
    return value
      .split(/[;,]/)
      .map((t) => t.trim())
      .filter(Boolean);
  return value;
}

/** Parses Markdown with optional YAML front matter into an article draft. */
export function parseMarkdown(text: string): ArticleDraft {
  let parsed: matter.GrayMatterFile<string>;
  try {
    // An options object turns off gray-matter's cache, which would hand back shared objects.
    parsed = matter(text, {});
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ArticleInputError('front matter', `the YAML front matter is not valid: ${reason}`);
  }
  const data = parsed.data as Record<string, unknown>;
  const blocks = parsed.content
    .replace(/\r\n?/g, '\n')
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .filter((block) => block.length > 0);

  let title: unknown = data.title;
  let image: unknown = typeof data.image === 'string' ? { url: data.image } : data.image;
  const paragraphs: string[] = [];
  for (const block of blocks) {
    const heading = /^#{1,6}\s+(.+?)\s*#*$/s.exec(block);
    if (heading?.[1] && /^#\s/.test(block)) {
      // The first top-level heading is the title, unless the front matter gave one; a heading
      // that repeats the title is not body text either.
      const text = markdownInline(heading[1]);
      if (title === undefined) title = text;
      if (text === title) continue;
    }
    const picture = /^!\[([^\]]*)\]\(\s*(\S+?)(?:\s+"([^"]*)")?\s*\)$/.exec(block);
    if (picture) {
      image ??= {
        ...(picture[1] ? { alt: picture[1] } : {}),
        url: picture[2],
        ...(picture[3] ? { caption: picture[3] } : {}),
      };
      continue;
    }
    // Drop heading marks, quote marks and list bullets; keep the words.
    const plain = markdownInline(
      block
        .split('\n')
        .map((line) => line.replace(/^\s*(#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)/, ''))
        .join(' '),
    );
    if (plain && !/^([-*_]\s*){3,}$/.test(plain)) paragraphs.push(plain);
  }
  const tagged = data.source === undefined ? takeAgencyTag(paragraphs) : { paragraphs };
  return {
    title,
    standfirst: data.standfirst ?? data.summary,
    paragraphs: tagged.paragraphs,
    image,
    source: data.source ?? tagged.source,
    byline: data.byline ?? data.author,
    url: data.url,
    publishedAt: isoOf(data.publishedAt ?? data.published_at ?? data.date),
    topics: topicsOf(data.topics),
  };
}
