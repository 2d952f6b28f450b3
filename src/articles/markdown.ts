// Markdown with YAML front matter (title, standfirst, topics, tags, image, url, publishedAt,
// source, byline). The body is read with markdown-it's CommonMark tokenizer, which bounds its
// work on pathological input (its test suite has them), instead of regexes that backtracked on
// `![` runs. (micromark was tried: `**a` repeated over 120 kB took 155 s there, 1.7 s here.)
import MarkdownIt, { type Token } from 'markdown-it';
import type { ArticleDraft } from './draft.ts';
import { splitFrontMatter } from './front-matter.ts';
import { cleanBlocks, squash } from './furniture.ts';
import { type ArticleBlock, type ArticleImage, paragraphsOf } from './schema.ts';

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

// Raw HTML is tokenized (so it is not shown as text) and then skipped.
const markdown = new MarkdownIt('commonmark', { html: true });

/** The plain text of an inline token: links keep their words, emphasis its text, images none. */
function inlineText(token: Token | undefined): string {
  if (!token?.children) return squash(token?.content ?? '');
  let text = '';
  for (const child of token.children) {
    if (child.type === 'text' || child.type === 'code_inline') text += child.content;
    else if (child.type === 'softbreak' || child.type === 'hardbreak') text += ' ';
  }
  return squash(text);
}

/** The one image an inline token holds alone (nothing but whitespace around it), or undefined. */
function loneImage(token: Token | undefined): Token | undefined {
  const parts = (token?.children ?? []).filter(
    (child) =>
      !(child.type === 'text' && child.content.trim() === '') &&
      child.type !== 'softbreak' &&
      child.type !== 'hardbreak',
  );
  return parts.length === 1 && parts[0]?.type === 'image' ? parts[0] : undefined;
}

interface Walk {
  title: unknown;
  /** The lead image: front matter's, or the first picture before any text. */
  image: ArticleImage | undefined;
  base: unknown;
  blocks: ArticleBlock[];
}

/** A quote's text and, when its last line starts with a dash, who said it. */
function quoteOf(lines: string[]): ArticleBlock | undefined {
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

/** Adds a paragraph (or the picture it holds alone) to the walk. */
function addParagraph(inline: Token | undefined, walk: Walk): void {
  const picture = loneImage(inline);
  if (picture) {
    const url = absoluteUrl(String(picture.attrGet('src') ?? ''), walk.base);
    if (!url) return;
    const alt = inlineText(picture);
    const caption = squash(String(picture.attrGet('title') ?? ''));
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
  const text = inlineText(inline);
  if (text) walk.blocks.push({ type: 'paragraph', text });
}

/**
 * Turns markdown-it's block tokens into article blocks. Only top-level blocks become blocks;
 * what is nested in a list item or a quote becomes that item's or quote's text.
 */
function walkTokens(tokens: readonly Token[], walk: Walk): void {
  let i = 0;
  /** The inline texts from tokens[i] up to the close at the same level, and the index after. */
  const gather = (start: number): { lines: string[]; items: string[]; end: number } => {
    const open = tokens[start]!;
    const lines: string[] = [];
    const items: string[] = [];
    let item: string[] = [];
    let j = start + 1;
    for (; j < tokens.length; j++) {
      const token = tokens[j]!;
      if (token.level === open.level && token.nesting === -1) break;
      if (token.type === 'inline') {
        const text = inlineText(token);
        if (text) {
          lines.push(text);
          item.push(text);
        }
      } else if (token.type === 'fence' || token.type === 'code_block') {
        const text = squash(token.content);
        if (text) {
          lines.push(text);
          item.push(text);
        }
      } else if (token.type === 'list_item_close' && token.level === open.level + 1) {
        if (item.length > 0) items.push(item.join(' '));
        item = [];
      }
    }
    return { lines, items, end: j + 1 };
  };
  while (i < tokens.length) {
    const token = tokens[i]!;
    switch (token.type) {
      case 'heading_open': {
        const text = inlineText(tokens[i + 1]);
        const depth = Number(token.tag.slice(1));
        i += 3;
        if (!text) break;
        if (depth === 1) {
          // The first top-level heading is the title, unless the front matter gave one; a
          // heading that repeats the title is not body text either.
          if (walk.title === undefined) walk.title = text;
          if (text === walk.title) break;
        }
        walk.blocks.push({ type: 'heading', level: depth <= 2 ? 2 : 3, text });
        break;
      }
      case 'paragraph_open':
        addParagraph(tokens[i + 1], walk);
        i += 3;
        break;
      case 'bullet_list_open':
      case 'ordered_list_open': {
        const { items, end } = gather(i);
        if (items.length > 0)
          walk.blocks.push({ type: 'list', ordered: token.type === 'ordered_list_open', items });
        i = end;
        break;
      }
      case 'blockquote_open': {
        const { lines, end } = gather(i);
        const quote = quoteOf(lines);
        if (quote) walk.blocks.push(quote);
        i = end;
        break;
      }
      case 'fence':
      case 'code_block': {
        const text = squash(token.content);
        if (text) walk.blocks.push({ type: 'paragraph', text });
        i += 1;
        break;
      }
      default:
        // Thematic breaks and raw HTML carry no body text.
        i += 1;
    }
  }
}

/** Parses Markdown with optional YAML front matter into an article draft. */
export function parseMarkdown(text: string): ArticleDraft {
  const { data, content } = splitFrontMatter(text);
  const walk: Walk = {
    title: data.title,
    image:
      typeof data.image === 'string'
        ? { url: data.image }
        : (data.image as ArticleImage | undefined),
    base: data.url,
    blocks: [],
  };
  walkTokens(markdown.parse(content, {}), walk);
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
