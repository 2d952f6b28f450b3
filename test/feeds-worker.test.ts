// The feeds worker: a feed added with its job scheduler is polled by the `feeds` queue without
// anyone asking; JSON Feed items are read too; schedulers follow the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFeedDocument } from '../src/feeds/parse.ts';
import { removeFeed } from '../src/feeds/repository.ts';
import { feedSchedulerId, syncFeedSchedulers } from '../src/feeds/schedule.ts';
import { addAndScheduleFeed } from '../src/feeds/service.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type FeedServer, startFeedServer } from './helpers/feed-server.ts';
import { type RunningHerald, startHerald, testEnv } from './helpers/herald.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

const JSON_FEED = JSON.stringify({
  version: 'https://jsonfeed.org/version/1.1',
  title: 'Desk',
  items: [
    {
      id: 'j1',
      url: 'https://n.example/j1',
      title: 'Floods in Valencia as record rain falls',
      content_text:
        'Floods swept through Valencia after record rain, and scientists said climate change made such storms more likely.\n\nThe regional government said heavy rain and flooding would continue as the climate warms.',
      date_published: '2026-12-01T08:00:00Z',
    },
    { id: 'j2', content_html: '<p>No title.</p>' },
  ],
});

describe('JSON Feed items', () => {
  it('reads content_text into paragraphs and reports the untitled item', () => {
    const parsed = parseFeedDocument(JSON_FEED);
    expect(parsed.format).toBe('json');
    expect(parsed.items).toHaveLength(1);
    expect(parsed.items[0]).toMatchObject({
      title: 'Floods in Valencia as record rain falls',
      link: 'https://n.example/j1',
      publishedAt: '2026-12-01T08:00:00.000Z',
    });
    expect(parsed.items[0]!.html).toMatch(/^<p>Floods swept.*<\/p><p>The regional/);
    expect(parsed.broken).toEqual([expect.objectContaining({ reason: 'the item has no title' })]);
  });
});

describe('feeds worker (sqlite)', () => {
  let t: TestStore;
  let herald: RunningHerald;
  let server: FeedServer;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    herald = await startHerald(testEnv(t.databaseUrl));
    await ensureCatalogue(herald.app.store.db);
    server = await startFeedServer();
    server.routes.set('/feed.json', { type: 'application/feed+json', body: JSON_FEED });
  });
  afterAll(async () => {
    await herald?.queues.feeds.obliterate({ force: true });
    await herald?.close();
    await server?.close();
    await t?.dispose();
  });

  it('polls a scheduled feed by itself, and drops schedulers of removed feeds', async () => {
    const db = herald.app.store.db;
    const feed = await addAndScheduleFeed(herald.app, herald.queues, {
      url: `${server.base}/feed.json`,
      allowPrivate: true,
      every: '10s',
    });
    const deadline = Date.now() + 30_000;
    let titles: string[] = [];
    while (titles.length === 0) {
      if (Date.now() > deadline) throw new Error('the feeds worker did not poll');
      await new Promise((r) => setTimeout(r, 200));
      titles = (await db.selectFrom('articles').select('title').execute()).map((a) => a.title);
    }
    expect(titles).toEqual(['Floods in Valencia as record rain falls']);
    const urls = (await db.selectFrom('articles').select('url').execute()).map((a) => a.url);
    expect(urls).toEqual(['https://n.example/j1']);

    await removeFeed(db, feed.id);
    await syncFeedSchedulers(db, herald.queues.feeds);
    const left = await herald.queues.feeds.getJobSchedulers(0, -1);
    expect(left.map((s) => s.key)).not.toContain(feedSchedulerId(feed.id));
  });
});
