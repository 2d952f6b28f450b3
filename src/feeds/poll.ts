// One poll of one feed: a conditional fetch, the document read item by item, each new item
// turned into one Article (its full content, or the linked page when the feed carries only
// a summary) tagged by the topic rules. A broken item is logged with its feed and skipped;
// a failed poll counts against the feed. Validators (ETag, Last-Modified) are kept only
// after every item was handled, so a crash mid-poll re-reads the feed instead of a 304.
import type { Kysely } from 'kysely';
import { ArticleInputError } from '../articles/parse.ts';
import { ArticleParseLimitError, parseArticleOffThread } from '../articles/parse-pool.ts';
import { saveArticle } from '../articles/repository.ts';
import { type Article, articleSchema, type StoredArticle } from '../articles/schema.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Database } from '../store/schema.ts';
import { loadCatalogue } from '../topics/catalogue.ts';
import { FetchError, safeFetch } from './fetch.ts';
import { escapeHtml, FeedFormatError, type FeedItem, parseFeedDocument } from './parse.ts';
import { type Feed, getFeed, markPolled, recordItem, seenItemKeys } from './repository.ts';

export interface PollDeps {
  db: Kysely<Database>;
  config: Pick<Config, 'FEED_TIMEOUT_MS' | 'FEED_MAX_BYTES' | 'FEED_FAILING_AFTER'>;
  logger: Logger;
  now?: () => Date;
  /**
   * Called for the article of each item new to the feed, before the item is recorded (alert
   * rules hook in here; it must be idempotent per article).
   */
  onNewArticle?: (article: StoredArticle) => Promise<void>;
}

export interface PollReport {
  feedId: number;
  outcome: 'ok' | 'not-modified' | 'failed' | 'missing';
  /** Ids of the articles this poll created. */
  created: number[];
  /** Items already known (from earlier polls, or as an article ingested another way). */
  known: number;
  broken: Array<{ item: string; reason: string }>;
  error: string | null;
}

const FEED_ACCEPT =
  'application/rss+xml, application/atom+xml, application/feed+json, application/json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1';

/** The Article for a feed item: its own content, else the page it links to. */
async function articleOf(deps: PollDeps, feed: Feed, item: FeedItem): Promise<Article> {
  let html: string;
  if (item.html) {
    html = `<!doctype html><html><head><title>${escapeHtml(item.title)}</title></head><body><article><h1>${escapeHtml(item.title)}</h1>${item.html}</article></body></html>`;
  } else {
    // Summary only: the article is the linked page, fetched under the feed's own rules.
    const page = await safeFetch(item.link!, {
      // --allow-private trusts the feed's own host, not every address its items point to.
      allowPrivate: feed.allowPrivate && sameHost(item.link!, feed.url),
      timeoutMs: deps.config.FEED_TIMEOUT_MS,
      maxBytes: deps.config.FEED_MAX_BYTES,
      accept: 'text/html, application/xhtml+xml;q=0.9',
    });
    const type = page.contentType?.split(';')[0]?.trim().toLowerCase();
    if (type && type !== 'text/html' && type !== 'application/xhtml+xml') {
      throw new ArticleInputError('link', `the linked page is ${type}, not HTML`);
    }
    html = page.body.toString('utf8');
  }
  // Off the event loop with a time limit, as every untrusted document (issue 11, fault 3).
  const parsed = await parseArticleOffThread({ body: html, contentType: 'text/html' });
  // The feed's own fields win over what the page parser guessed; topics come from the rules.
  return articleSchema.parse({
    ...parsed,
    title: item.title,
    ...(item.link ? { url: item.link } : {}),
    ...(item.publishedAt ? { publishedAt: item.publishedAt } : {}),
    topics: [],
  });
}

/** Whether two URLs name the same host and port (a URL that does not parse names none). */
function sameHost(a: string, b: string): boolean {
  try {
    return new URL(a).host === new URL(b).host;
  } catch {
    return false;
  }
}

function reasonOf(error: unknown): string {
  if (
    error instanceof FetchError ||
    error instanceof ArticleInputError ||
    error instanceof ArticleParseLimitError
  )
    return error.message;
  if (error instanceof Error && error.name === 'ZodError') return 'the item makes no valid article';
  return error instanceof Error ? error.message : String(error);
}

/** Polls one feed now; never throws for the feed's own faults (they go in the report). */
export async function pollFeed(deps: PollDeps, feedId: number): Promise<PollReport> {
  const now = () => (deps.now ?? (() => new Date()))().toISOString();
  const report: PollReport = {
    feedId,
    outcome: 'ok',
    created: [],
    known: 0,
    broken: [],
    error: null,
  };
  const feed = await getFeed(deps.db, feedId, deps.config.FEED_FAILING_AFTER);
  if (!feed) return { ...report, outcome: 'missing', error: `no feed ${feedId}` };
  const log = deps.logger.child({ feed_id: feed.id });

  let document: string;
  let validators: { etag: string | null; lastModified: string | null };
  try {
    const fetched = await safeFetch(feed.url, {
      allowPrivate: feed.allowPrivate,
      timeoutMs: deps.config.FEED_TIMEOUT_MS,
      maxBytes: deps.config.FEED_MAX_BYTES,
      accept: FEED_ACCEPT,
      etag: feed.etag,
      lastModified: feed.lastModified,
    });
    if (fetched.notModified) {
      await markPolled(deps.db, feed.id, { ok: true }, now());
      log.debug('feeds.poll.not_modified');
      return { ...report, outcome: 'not-modified' };
    }
    document = new TextDecoder('utf-8').decode(fetched.body);
    validators = { etag: fetched.etag, lastModified: fetched.lastModified };
  } catch (error) {
    const reason = reasonOf(error);
    await markPolled(deps.db, feed.id, { ok: false, error: reason }, now());
    log.warn({ reason, failures: feed.failures + 1 }, 'feeds.poll.failed');
    return { ...report, outcome: 'failed', error: reason };
  }

  let parsed: ReturnType<typeof parseFeedDocument>;
  try {
    parsed = parseFeedDocument(document, feed.url);
  } catch (error) {
    const reason = error instanceof FeedFormatError ? error.message : reasonOf(error);
    await markPolled(deps.db, feed.id, { ok: false, error: reason }, now());
    log.warn({ reason, failures: feed.failures + 1 }, 'feeds.poll.failed');
    return { ...report, outcome: 'failed', error: reason };
  }

  const seen = await seenItemKeys(deps.db, feed.id, [
    ...parsed.items.map((item) => item.key),
    ...parsed.broken.flatMap((b) => b.key ?? []),
  ]);
  for (const broken of parsed.broken) {
    if (broken.key && seen.has(broken.key)) continue;
    log.warn(
      { item: broken.label, position: broken.position, reason: broken.reason },
      'feeds.item.broken',
    );
    report.broken.push({ item: broken.label, reason: broken.reason });
    // Recorded so the same broken item is reported once, not on every poll.
    if (broken.key)
      await recordItem(deps.db, feed.id, broken.key, 'broken', null, broken.reason, now());
  }
  const catalogue = await loadCatalogue(deps.db);
  for (const item of parsed.items) {
    if (seen.has(item.key)) {
      report.known += 1;
      continue;
    }
    let stored: { article: StoredArticle; created: boolean };
    try {
      stored = await saveArticle(deps.db, await articleOf(deps, feed, item), catalogue);
    } catch (error) {
      // Not recorded: a linked page that failed to load is tried again on the next poll.
      const reason = reasonOf(error);
      log.warn({ item: item.title.slice(0, 200), reason }, 'feeds.item.broken');
      report.broken.push({ item: item.title.slice(0, 200), reason });
      continue;
    }
    // The hook runs before the item is recorded: after a crash in between, the next poll
    // stores the same article again (no duplicate) and calls the hook again (idempotent).
    if (deps.onNewArticle) {
      try {
        await deps.onNewArticle(stored.article);
      } catch (error) {
        // Not recorded either: the next poll calls the (idempotent) hook again; the other items
        // of the feed go on.
        const reason = reasonOf(error);
        log.error({ article_id: stored.article.id, reason }, 'feeds.item.alert_failed');
        report.broken.push({ item: item.title.slice(0, 200), reason: `alert: ${reason}` });
        continue;
      }
    }
    await recordItem(deps.db, feed.id, item.key, 'stored', stored.article.id, null, now());
    if (!stored.created) {
      report.known += 1;
      continue;
    }
    report.created.push(stored.article.id);
    log.info({ article_id: stored.article.id, topics: stored.article.topics }, 'feeds.item.stored');
  }
  await markPolled(deps.db, feed.id, { ok: true, ...validators }, now());
  return report;
}
