// Markdown with YAML front matter (title, standfirst, topics, tags, image, url, publishedAt,
// source, byline). The body is read with micromark (mdast-util-from-markdown): a CommonMark
// state machine, linear in its input, instead of regexes that backtracked on `![` runs.
import type { Nodes, Parent, PhrasingContent, Root, RootContent } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString as mdastText } from 'mdast-util-to-string';
import type { ArticleDraft } from './draft.ts';
import { splitFrontMatter } from './front-matter.ts';
import { cleanBlocks, squash } from './furniture.ts';
import { type ArticleBlock, type ArticleImage, paragraphsOf } from './schema.ts';

/** The plain text of a node: links keep their words, emphasis its text, images nothing. */
function textOf(node: Nodes): string {
  return squash(mdastText(node, { includeImageAlt: false, includeHtml: false }));
}

/** Front-matter dates: a bare date is midnight UTC; a date-time with a zone becomes ISO UTC. */
function isoOf(value: unknown): unknown {
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return `${text}T00:00:00.000Z`;
  // Only with an explicit zone: a zoneless time would be read in the server's zone.
  if (
    /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s?(Z|[+-]\d{2}:?\d{2})$/i.test(text)
  ) {
    const time = Date.parse(text.replace(' ', 'T').replace(/\s/, ''));
    if (!Number.isNaN(time)) return new Date(time).toISOString();
  }
  return value;
}

/** A list written as a YAML list or as "a;b" / "a, b". */
function listOf(value: unknown): unknown {
  if (typeof value === 'string')
    return value
      .split(/[;,]/)
      .map((t) => t.trim())
      .filter(Boolean);
  if (Array.isArray(value))
    return value.map((item) => (typeof item === 'string' ? item : String(item)));
  return value;
}

/** An absolute http(s) URL for a Markdown link target, resolved against the article's url. */
function absoluteUrl(target: string, base: unknown): string | undefined {
  try {
    const url = new URL(target, typeof base === 'string' ? base : undefined);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The one image a paragraph holds alone (nothing but whitespace around it), or undefined. */
function loneImage(paragraph: Parent): PhrasingContent | undefined {
  const parts = paragraph.children.filter(
    (child) => !(child.type === 'text' && child.value.trim() === '') && child.type !== 'break',
  );
  const only = parts.length === 1 ? parts[0] : undefined;
  return only?.type === 'image' ? (only as PhrasingContent) : undefined;
}

interface Walk {
  title: unknown;
  /** The lead image: front matter's, or the first picture before any text. */
  image: ArticleImage | undefined;
  base: unknown;
  blocks: ArticleBlock[];
}

/** A quote's text and, when its last line starts with a dash, who said it. */
function quoteOf(node: Parent): ArticleBlock | undefined {
  const lines = node.children.map((child) => textOf(child as Nodes)).filter(Boolean);
  const last = lines.at(-1);
  let cite: string | undefined;
  if (lines.length > 1 && last && /^(—|–|--)\s*\S/.test(last)) {
    cite = last.replace(/^(—|–|--)\s*/, '');
    lines.pop();
  }
  const text = lines.join(' ');
  if (!text) return undefined;
  return { type: 'quote', text, ...(cite ? { cite } : {}) };
}

/** Adds the blocks of one top-level Markdown node to the walk. */
function visit(node: RootContent, walk: Walk): void {
  switch (node.type) {
    case 'heading': {
      const text = textOf(node);
      if (!text) return;
      if (node.depth === 1) {
        // The first top-level heading is the title, unless the front matter gave one; a
        // heading that repeats the title is not body text either.
        if (walk.title === undefined) walk.title = text;
        if (text === walk.title) return;
      }
      walk.blocks.push({ type: 'heading', level: node.depth <= 2 ? 2 : 3, text });
      return;
    }
    case 'paragraph': {
      const picture = loneImage(node);
      if (picture?.type === 'image') {
        const url = absoluteUrl(picture.url, walk.base);
        if (!url) return;
        const alt = squash(picture.alt ?? '');
        const caption = squash(picture.title ?? '');
        const textSeen = walk.blocks.some((block) => block.type !== 'image');
        if (!walk.image && !textSeen) {
          walk.image = { ...(alt ? { alt } : {}), url, ...(caption ? { caption } : {}) };
          return;
        }
        walk.blocks.push({
          type: 'image',
          url,
          ...(alt ? { alt } : {}),
          ...(caption ? { caption } : {}),
        });
        return;
      }
      const text = textOf(node);
      if (text) walk.blocks.push({ type: 'paragraph', text });
      return;
    }
    case 'list': {
      const items = node.children.map((item) => textOf(item)).filter(Boolean);
      if (items.length > 0)
        walk.blocks.push({ type: 'list', ordered: node.ordered === true, items });
      return;
    }
    case 'blockquote': {
      const quote = quoteOf(node);
      if (quote) walk.blocks.push(quote);
      return;
    }
    case 'code': {
      const text = squash(node.value);
      if (text) walk.blocks.push({ type: 'paragraph', text });
      return;
    }
    default:
      // Thematic breaks, raw HTML and link definitions carry no body text.
      return;
  }
}

/** Parses Markdown with optional YAML front matter into an article draft. */
export function parseMarkdown(text: string): ArticleDraft {
  const { data, content } = splitFrontMatter(text);
  const tree: Root = fromMarkdown(content);
  const walk: Walk = {
    title: data.title,
    image:
      typeof data.image === 'string'
        ? { url: data.image }
        : (data.image as ArticleImage | undefined),
    base: data.url,
    blocks: [],
  };
  for (const node of tree.children) visit(node, walk);
  // Page furniture ("Sign up now…", "Follow topic:") goes as in plain text; a trailing agency
  // line is the source unless the front matter names one.
  const cleaned = cleanBlocks(walk.blocks);
  const blocks = cleaned.blocks;
  return {
    title: walk.title,
    standfirst: data.standfirst ?? data.summary ?? data.description,
    paragraphs: paragraphsOf(blocks),
    blocks,
    image: walk.image ?? cleaned.image,
    source: data.source ?? cleaned.source,
    byline: data.byline ?? data.author ?? cleaned.byline,
    url: data.url,
    publishedAt: isoOf(data.publishedAt ?? data.published_at ?? data.date),
    topics: listOf(data.topics),
    tags: listOf(data.tags),
  };
}
