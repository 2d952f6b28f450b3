// Feeds end to end on both dialects: an RSS feed with full content and an Atom feed with
// summaries only (its articles are the linked pages), served by a local HTTP server; each
// item becomes exactly one Article with the matcher's topics; a 304 adds nothing; a new item
// appears on the next poll; a malformed item and a failing feed are reported and skipped.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { getArticle } from '../src/articles/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { pollFeed } from '../src/feeds/poll.ts';
import { addFeed, listFeeds, removeFeed } from '../src/feeds/repository.ts';
import { createLogger } from '../src/log/index.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type FeedServer, startFeedServer } from './helpers/feed-server.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const fixtures = resolve(import.meta.dirname, 'fixtures/articles');
const fixture = (name: string) => readFileSync(resolve(fixtures, name), 'utf8');
const jsonFixture = (name: string) =>
  JSON.parse(fixture(name)) as { title: string; paragraphs: string[] };

function rssItem(name: string, guid: string): string {
  const article = jsonFixture(name);
  const html = article.paragraphs.map((p) => `<p>${p}</p>`).join('');
  return `<item><title>${article.title}</title><link>https://news.example/${guid}</link><guid>${guid}</guid><description>Short.</description><content:encoded><![CDATA[${html}]]></content:encoded><pubDate>Mon, 01 Dec 2026 10:00:00 GMT</pubDate></item>`;
}

function rss(items: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Wire</title><link>https://news.example/</link><description>d</description>${items.join('')}</channel></rss>`;
}

function atom(base: string, pages: Array<{ id: string; title: string; page: string }>): string {
  const entries = pages
    .map(
      (p) =>
        `<entry><id>urn:page:${p.id}</id><title>${p.title}</title><link rel="alternate" href="${base}/pages/${p.page}"/><updated>2026-12-01T09:00:00Z</updated><summary>Summary only.</summary></entry>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Pages</title><id>urn:pages</id><updated>2026-12-01T09:00:00Z</updated>${entries}</feed>`;
}

// An item without a title: malformed, reported, skipped.
const MALFORMED = '<item><guid>broken-1</guid><description>No title here.</description></item>';

const sorted = (topics: readonly string[]) => [...topics].sort();

describe.each(DIALECTS)('feeds (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FeedServer;
  const logLines: string[] = [];
  const config = { FEED_TIMEOUT_MS: 5_000, FEED_MAX_BYTES: 1_000_000, FEED_FAILING_AFTER: 2 };
  let deps: Parameters<typeof pollFeed>[0];
  const feedIds = { rss: 0, atom: 0, down: 0 };

  beforeAll(async () => {
    t = await openTestStore(dialect);
    app = await createApp(parseConfig({ DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent' }));
    await ensureCatalogue(app.store.db);
    server = await startFeedServer();
    const logger = createLogger('info', { write: (line: string) => logLines.push(line) });
    deps = { db: app.store.db, config, logger };
    server.routes.set('/rss.xml', {
      etag: true,
      body: rss([
        rssItem('power-of-siberia.json', 'siberia'),
        MALFORMED,
        rssItem('gaza-ceasefire.json', 'gaza'),
      ]),
    });
    server.routes.set('/atom.xml', {
      type: 'application/atom+xml',
      body: atom(server.base, [
        { id: 'lavrov', title: 'Lavrov meets Wang Yi in Beijing', page: 'lavrov-beijing.html' },
        { id: 'floods', title: 'Floods in Spain', page: 'floods.html' },
      ]),
    });
    for (const page of ['lavrov-beijing.html', 'floods.html']) {
      server.routes.set(`/pages/${page}`, {
        type: 'text/html; charset=utf-8',
        body: fixture(page),
      });
    }
    server.routes.set('/down.xml', { status: 500, body: 'oops' });
    for (const [key, path] of [
      ['rss', '/rss.xml'],
      ['atom', '/atom.xml'],
      ['down', '/down.xml'],
    ] as const) {
      const feed = await addFeed(
        app.store.db,
        { url: `${server.base}${path}`, allowPrivate: true, every: '1m' },
        config.FEED_FAILING_AFTER,
      );
      feedIds[key] = feed.id;
    }
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await t?.dispose();
  });

  const articleCount = async () =>
    Number(
      (
        await app.store.db
          .selectFrom('articles')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('turns every item into exactly one Article with the matcher topics, reporting the broken ones', async () => {
    const rssReport = await pollFeed(deps, feedIds.rss);
    const atomReport = await pollFeed(deps, feedIds.atom);
    const downReport = await pollFeed(deps, feedIds.down);

    expect(rssReport).toMatchObject({ outcome: 'ok', known: 0 });
    expect(rssReport.created).toHaveLength(2);
    expect(rssReport.broken).toEqual([
      { item: expect.any(String), reason: 'the item has no title' },
    ]);
    expect(atomReport).toMatchObject({ outcome: 'ok', known: 0, broken: [] });
    expect(atomReport.created).toHaveLength(2);
    expect(downReport).toMatchObject({ outcome: 'failed', error: 'HTTP 500', created: [] });
    expect(await articleCount()).toBe(4);

    const [siberia, gaza] = await Promise.all(
      rssReport.created.map((id) => getArticle(app.store.db, id)),
    );
    expect(siberia?.title).toBe('Russia and China edge closer to Power of Siberia 2 gas deal');
    expect(siberia?.url).toBe('https://news.example/siberia');
    expect(siberia?.paragraphs).toHaveLength(5);
    expect(sorted(siberia!.topics)).toEqual(['china', 'russia', 'russia-china-relations']);
    expect(sorted(gaza!.topics)).toEqual(['israel-gaza']);

    // Summary-only entries: the article is the linked page read by the HTML parser.
    const [lavrov, floods] = await Promise.all(
      atomReport.created.map((id) => getArticle(app.store.db, id)),
    );
    expect(lavrov?.title).toBe('Lavrov meets Wang Yi in Beijing');
    expect(lavrov?.url).toBe(`${server.base}/pages/lavrov-beijing.html`);
    expect(lavrov!.paragraphs.length).toBeGreaterThanOrEqual(4);
    expect(sorted(lavrov!.topics)).toEqual(['china', 'russia', 'russia-china-relations']);
    expect(sorted(floods!.topics)).toEqual(['climate']);

    // Logged with the feed and the item.
    const broken = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'feeds.item.broken');
    expect(broken).toEqual([
      expect.objectContaining({ feed_id: feedIds.rss, item: 'broken-1', position: 2 }),
    ]);
    const failed = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'feeds.poll.failed');
    expect(failed).toEqual([
      expect.objectContaining({ feed_id: feedIds.down, reason: 'HTTP 500' }),
    ]);
  });

  it('--allow-private trusts the feed’s own host only, not other private hosts its items link to', async () => {
    // Same server, but named by another loopback host: an item could point anywhere inside.
    const elsewhere = server.base.replace('127.0.0.1', 'localhost');
    server.routes.set('/inside.xml', {
      type: 'application/atom+xml',
      body: atom(elsewhere, [{ id: 'inside', title: 'Internal page', page: 'floods.html' }]),
    });
    const feed = await addFeed(
      app.store.db,
      { url: `${server.base}/inside.xml`, allowPrivate: true, every: '1m' },
      config.FEED_FAILING_AFTER,
    );
    const before = await articleCount();
    const report = await pollFeed(deps, feed.id);
    expect(report.created).toEqual([]);
    expect(report.broken).toEqual([
      { item: 'Internal page', reason: expect.stringContaining('private or reserved address') },
    ]);
    expect(await articleCount()).toBe(before);
    await removeFeed(app.store.db, feed.id);
  });

  it('adds nothing on a 304, nor when a feed repeats items it already gave', async () => {
    const before = server.requests.length;
    const rssReport = await pollFeed(deps, feedIds.rss);
    expect(rssReport).toMatchObject({ outcome: 'not-modified', created: [], broken: [] });
    const conditional = server.requests.slice(before).find((r) => r.path === '/rss.xml');
    expect(conditional?.headers['if-none-match']).toMatch(/^"\d+-/);
    // The Atom server ignores validators: the items table is what keeps them single.
    const atomReport = await pollFeed(deps, feedIds.atom);
    expect(atomReport).toMatchObject({ outcome: 'ok', created: [], known: 2, broken: [] });
    expect(await articleCount()).toBe(4);
  });

  it('gives a new item on the next poll, once, also after a restart', async () => {
    server.routes.set('/rss.xml', {
      etag: true,
      body: rss([
        rssItem('bri-kazakhstan.json', 'bri'),
        rssItem('power-of-siberia.json', 'siberia'),
        MALFORMED,
        rssItem('gaza-ceasefire.json', 'gaza'),
      ]),
    });
    const report = await pollFeed(deps, feedIds.rss);
    expect(report).toMatchObject({ outcome: 'ok', known: 2, broken: [] });
    expect(report.created).toHaveLength(1);
    const bri = await getArticle(app.store.db, report.created[0]!);
    expect(sorted(bri!.topics)).toEqual(['belt-and-road', 'china']);

    // A fresh process (no validators in memory, none in the request): still nothing twice.
    const restarted = await createApp(
      parseConfig({ DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent' }),
    );
    try {
      await restarted.store.db
        .updateTable('feeds' as never)
        .set({ etag: null } as never)
        .execute();
      const again = await pollFeed({ ...deps, db: restarted.store.db }, feedIds.rss);
      expect(again).toMatchObject({ outcome: 'ok', created: [], known: 3, broken: [] });
    } finally {
      await restarted.close();
    }
    expect(await articleCount()).toBe(5);
  });

  it('marks a feed that keeps failing, and clears the mark when it recovers', async () => {
    await pollFeed(deps, feedIds.down);
    let down = (await listFeeds(app.store.db, 2)).find((f) => f.id === feedIds.down)!;
    expect(down).toMatchObject({ failures: 2, failing: true, lastError: 'HTTP 500' });
    const healthy = (await listFeeds(app.store.db, 2)).filter((f) => f.id !== feedIds.down);
    expect(healthy.every((f) => f.failures === 0 && !f.failing)).toBe(true);

    server.routes.set('/down.xml', { body: rss([]) });
    expect(await pollFeed(deps, feedIds.down)).toMatchObject({ outcome: 'ok' });
    down = (await listFeeds(app.store.db, 2)).find((f) => f.id === feedIds.down)!;
    expect(down).toMatchObject({ failures: 0, failing: false, lastError: null });
  });
});
