// Reads a feed document (RSS 2.0, Atom, JSON Feed; RDF as a bonus) with feedsmith, which
// parses XML with entity processing off (no DTD expansion), into plain FeedItems. Each item
// is checked on its own: a broken one is reported and the others go on.
import { createHash } from 'node:crypto';
import { parseFeed } from 'feedsmith';
import { z } from 'zod';

/** One usable feed item. `html` is its full content when the feed carries it. */
export interface FeedItem {
  key: string;
  title: string;
  link: string | null;
  html: string | null;
  summary: string | null;
  publishedAt: string | null;
}

export interface BrokenItem {
  /** Its position in the feed (1-based) and whatever names it. */
  position: number;
  key: string | null;
  label: string;
  reason: string;
}

export interface ParsedFeed {
  format: string;
  title: string | null;
  items: FeedItem[];
  broken: BrokenItem[];
}

/** A feed document that cannot be read at all. */
export class FeedFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedFormatError';
  }
}

const text = z.string().trim().min(1).max(100_000).optional().catch(undefined);
const valued = z
  .union([z.string(), z.object({ value: z.string().optional() })])
  .transform((v) => (typeof v === 'string' ? v : v.value)?.trim() || undefined)
  .optional()
  .catch(undefined);

const rssItemSchema = z.object({
  title: text,
  link: text,
  guid: valued,
  description: text,
  content: z.object({ encoded: text }).optional().catch(undefined),
  pubDate: text,
});

const atomItemSchema = z.object({
  id: text,
  title: valued,
  links: z
    .array(z.object({ href: z.string().optional(), rel: z.string().optional() }))
    .optional()
    .catch(undefined),
  content: valued,
  summary: valued,
  published: text,
  updated: text,
});

const jsonItemSchema = z.object({
  id: z.union([z.string(), z.number()]).optional().catch(undefined),
  url: text,
  title: text,
  content_html: text,
  content_text: text,
  summary: text,
  date_published: text,
});

const feedSchema = z.object({
  format: z.string(),
  feed: z.object({
    title: valued,
    items: z.array(z.unknown()).optional(),
    entries: z.array(z.unknown()).optional(),
  }),
});

/** A link only if it is an absolute http(s) URL. */
function httpLink(value: string | undefined, base?: string): string | null {
  if (!value) return null;
  try {
    const url = new URL(value, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
  } catch {
    return null;
  }
}

function isoDate(value: string | undefined): string | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

/** The dedupe key: the guid/id when there is one, else the link, else the title. */
function itemKey(guid: string | undefined, link: string | null, title: string | undefined) {
  const identity = guid ? `id:${guid}` : link ? `link:${link}` : title ? `title:${title}` : null;
  return identity ? createHash('sha256').update(identity).digest('hex') : null;
}

interface RawItem {
  guid?: string;
  title?: string;
  link: string | null;
  html?: string;
  summary?: string;
  date?: string;
}

function rawItemOf(format: string, value: unknown, base?: string): RawItem | string {
  if (format === 'atom') {
    const parsed = atomItemSchema.safeParse(value);
    if (!parsed.success) return 'the entry is not an object';
    const entry = parsed.data;
    const href =
      entry.links?.find((l) => !l.rel || l.rel === 'alternate')?.href ?? entry.links?.[0]?.href;
    return {
      guid: entry.id,
      title: entry.title,
      link: httpLink(href, base),
      html: entry.content,
      summary: entry.summary,
      date: entry.published ?? entry.updated,
    };
  }
  if (format === 'json') {
    const parsed = jsonItemSchema.safeParse(value);
    if (!parsed.success) return 'the item is not an object';
    const item = parsed.data;
    const html =
      item.content_html ??
      (item.content_text
        ? item.content_text
            .split(/\n\s*\n/)
            .map((p) => `<p>${escapeHtml(p)}</p>`)
            .join('')
        : undefined);
    return {
      guid: item.id === undefined ? undefined : String(item.id),
      title: item.title,
      link: httpLink(item.url, base),
      html,
      summary: item.summary,
      date: item.date_published,
    };
  }
  const parsed = rssItemSchema.safeParse(value);
  if (!parsed.success) return 'the item is not an object';
  const item = parsed.data;
  return {
    guid: item.guid,
    title: item.title,
    link: httpLink(item.link, base),
    html: item.content?.encoded,
    summary: item.description,
    date: item.pubDate,
  };
}

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Parses a feed document; throws FeedFormatError when it is no feed at all. */
export function parseFeedDocument(body: string, base?: string): ParsedFeed {
  let result: unknown;
  try {
    result = parseFeed(body);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FeedFormatError(`not a readable RSS, Atom or JSON feed: ${reason}`);
  }
  const parsed = feedSchema.safeParse(result);
  if (!parsed.success) throw new FeedFormatError('not a readable RSS, Atom or JSON feed');
  const { format, feed } = parsed.data;
  const entries = feed.items ?? feed.entries ?? [];
  const items: FeedItem[] = [];
  const broken: BrokenItem[] = [];
  entries.forEach((entry, index) => {
    const position = index + 1;
    const raw = rawItemOf(format, entry, base);
    if (typeof raw === 'string') {
      broken.push({ position, key: null, label: `item ${position}`, reason: raw });
      return;
    }
    const key = itemKey(raw.guid, raw.link, raw.title);
    const label = raw.title ?? raw.link ?? raw.guid ?? `item ${position}`;
    const reason = !key
      ? 'the item has no guid, link or title'
      : !raw.title
        ? 'the item has no title'
        : !raw.html && !raw.link
          ? 'the item has neither content nor a link to read'
          : null;
    if (reason || !key || !raw.title) {
      broken.push({ position, key, label: label.slice(0, 200), reason: reason ?? 'unusable' });
      return;
    }
    items.push({
      key,
      title: raw.title,
      link: raw.link,
      html: raw.html ?? null,
      summary: raw.summary ?? null,
      publishedAt: isoDate(raw.date),
    });
  });
  return { format, title: feed.title ?? null, items, broken };
}
