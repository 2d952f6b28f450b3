// Engagement storage without the queues: link rewriting, the message builder with tracking on
// and off, retention (aggregate then delete), erasure and export of a subscriber's rows.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign, getCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { campaignRenderer } from '../src/delivery/renderer.ts';
import { trackLinks } from '../src/engagement/links.ts';
import { classifyOpen } from '../src/engagement/opens.ts';
import { createRecorder } from '../src/engagement/recorder.ts';
import { campaignReport } from '../src/engagement/report.ts';
import {
  applyRetention,
  setOpenTrackingConsent,
  subscriberEngagement,
  writeEngagement,
} from '../src/engagement/store.ts';
import { setCampaignClickTracking } from '../src/engagement/tracking.ts';
import { topicTrends, weekStart } from '../src/engagement/trends.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { engagementDb } from '../src/store/schema-engagement.ts';
import { eraseSubscriber, recordEvent } from '../src/subscribers/events.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { createTestTarget, DIALECTS } from './helpers/stores.ts';

type TestTarget = Awaited<ReturnType<typeof createTestTarget>>;
const run = promisify(execFile);

describe('trackLinks', () => {
  const html =
    '<html><body><a href="https://a.example/x?p=1&amp;q=2">A</a> <a class="k" href="https://a.example/x?p=1&amp;q=2">again</a>' +
    '<a href="mailto:desk@example.org">mail</a><a href="tel:+331">tel</a><a href="#top">top</a>' +
    '<a href="{{{unsubscribeUrl}}}">Unsubscribe</a><a href="{{{preferencesUrl}}}">Prefs</a>' +
    "<a href='http://b.example/'>B</a></body></html>";

  it('rewrites web links only, one index per distinct URL, URLs decoded', () => {
    const tracked = trackLinks(html, { clicks: true, withOpenPixel: false });
    expect(tracked.urls).toEqual(['https://a.example/x?p=1&q=2', 'http://b.example/']);
    expect(tracked.html.match(/\{\{\{clickUrls\.\[0\]\}\}\}/g)).toHaveLength(2);
    expect(tracked.html).toContain('"{{{clickUrls.[1]}}}"');
    for (const kept of [
      'mailto:desk@example.org',
      'tel:+331',
      '#top',
      '{{{unsubscribeUrl}}}',
      '{{{preferencesUrl}}}',
    ]) {
      expect(tracked.html).toContain(`href="${kept}"`);
    }
    expect(tracked.html).not.toContain('{{{openPixel}}}');
  });

  it('adds the open image placeholder before </body> and leaves links alone without clicks', () => {
    const tracked = trackLinks(html, { clicks: false, withOpenPixel: true });
    expect(tracked.urls).toEqual([]);
    expect(tracked.html).toContain('{{{openPixel}}}</body>');
    expect(tracked.html.replace('{{{openPixel}}}', '')).toBe(html);
  });
});

describe('classifyOpen', () => {
  const sentAt = '2026-12-01T10:00:00.000Z';
  const browser = 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)';
  it('counts proxies and prefetches right after delivery as machine opens', () => {
    const at = new Date('2026-12-01T12:00:00Z');
    expect(
      classifyOpen({
        userAgent: 'Mozilla/5.0 (via ggpht.com GoogleImageProxy)',
        sentAt,
        at,
        machineSeconds: 10,
      }),
    ).toBe('machine-open');
    expect(
      classifyOpen({
        userAgent: 'YahooMailProxy; https://help.yahoo.com',
        sentAt,
        at,
        machineSeconds: 10,
      }),
    ).toBe('machine-open');
    expect(classifyOpen({ userAgent: 'Mozilla/5.0', sentAt, at, machineSeconds: 10 })).toBe(
      'machine-open',
    );
    expect(
      classifyOpen({
        userAgent: browser,
        sentAt,
        at: new Date('2026-12-01T10:00:04Z'),
        machineSeconds: 10,
      }),
    ).toBe('machine-open');
    expect(classifyOpen({ userAgent: browser, sentAt, at, machineSeconds: 10 })).toBe('open');
  });
});

describe.each(DIALECTS)('engagement rows on %s', (dialect) => {
  let target: TestTarget;
  let app: App;
  let subscriberIds: number[];
  let campaignId: number;

  beforeAll(async () => {
    target = await createTestTarget(dialect);
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        LOG_LEVEL: 'silent',
        HERALD_SECRET: 'herald-test-secret-0123456789-abcdef',
        PUBLIC_URL: 'https://news.example.org',
        TRACK_CLICKS: 'off',
        TRACK_OPENS: 'off',
      }),
    );
    const db = app.store.db;
    const article = await seedFixtureArticle(db);
    await db
      .updateTable('articles')
      .set({ url: 'https://news.example.org/story' })
      .where('id', '=', article.id)
      .execute();
    subscriberIds = await seedSubscribers(db, [
      { email: 'ann@example.net', topics: ['russia-china-relations'] },
      { email: 'bob@example.net', topics: ['russia-china-relations'] },
    ]);
    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: ['russia-china-relations'] }),
      new Date().toISOString(),
    );
    campaignId = campaign.id;
  });
  afterAll(async () => {
    await app?.close();
    await target?.dispose();
  });

  it('tracks nothing with both settings off, even for a consenting reader', async () => {
    const db = app.store.db;
    await setOpenTrackingConsent(db, subscriberIds[0]!, true);
    const renderer = await campaignRenderer(db, app.config, (await getCampaign(db, campaignId))!);
    const raw = renderer
      .build({
        subscriberId: subscriberIds[0]!,
        email: 'ann@example.net',
        name: null,
        followedTopicNames: [],
        openTracking: true,
      })
      .raw.toString('latin1');
    const html = Buffer.from(
      raw
        .split(
          'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n',
        )[1]!
        .split('\r\n--')[0]!
        .replace(/\r\n/g, ''),
      'base64',
    ).toString('utf8');
    expect(html).toContain('href="https://news.example.org/story"');
    expect(html).not.toContain('/r/');
    expect(html).not.toContain('/o/');
    expect(await engagementDb(db).selectFrom('engagement_links').selectAll().execute()).toEqual([]);
  });

  it('keeps a campaign override of TRACK_CLICKS', async () => {
    expect(await setCampaignClickTracking(app.store.db, campaignId, true)).toBe(true);
    const row = await engagementDb(app.store.db)
      .selectFrom('campaigns')
      .select('track_clicks')
      .where('id', '=', campaignId)
      .executeTakeFirstOrThrow();
    expect(row.track_clicks).toBe(1);
    expect(await setCampaignClickTracking(app.store.db, 999_999, true)).toBe(false);
  });

  it('records through the buffer, drops events whose key is not the subscriber’s', async () => {
    const db = app.store.db;
    await engagementDb(db)
      .insertInto('engagement_links')
      .values({ campaign_id: campaignId, link_index: 0, url: 'https://news.example.org/story' })
      .execute();
    const keys = await db
      .selectFrom('subscribers')
      .select(['id', 'token_key'])
      .orderBy('id')
      .execute();
    // One item per write: the flush yields between chunks and must still store every item.
    const recorder = createRecorder(db, { flushMs: 60_000, writeChunk: 1 });
    const at = new Date();
    for (let i = 0; i < 3; i++) {
      recorder.record({
        campaignId,
        subscriberId: keys[0]!.id,
        subscriberKey: keys[0]!.token_key,
        kind: 'click',
        linkIndex: 0,
        at,
      });
    }
    recorder.record({
      campaignId,
      subscriberId: keys[1]!.id,
      subscriberKey: '0000000000000000',
      kind: 'click',
      linkIndex: 0,
      at,
    });
    recorder.record({
      campaignId,
      subscriberId: keys[1]!.id,
      subscriberKey: keys[1]!.token_key,
      kind: 'open',
      at,
    });
    await recorder.close();
    const report = await campaignReport(db, campaignId);
    expect(report!.links).toEqual([expect.objectContaining({ uniqueClicks: 1, clicks: 3 })]);
    expect(report!.clicks).toMatchObject({ unique: 1, total: 3 });
    expect(report!.opens.human).toMatchObject({ unique: 1, total: 1 });
    const exported = await subscriberEngagement(db, keys[0]!.id);
    expect(exported.openTrackingConsent).toBe(true);
    expect(exported.activity).toEqual([
      expect.objectContaining({ campaign_id: campaignId, kind: 'click', count: 3 }),
    ]);
    expect(exported.linkClicks).toEqual([
      expect.objectContaining({ url: 'https://news.example.org/story', count: 3 }),
    ]);
  });

  it('close waits for every write under way: nothing is left for a store that closes next', async () => {
    const db = app.store.db;
    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({
        articleIds: [(await getCampaign(db, campaignId))!.articleIds[0]!],
        topics: ['russia-china-relations'],
      }),
      new Date().toISOString(),
    );
    const keys = await db
      .selectFrom('subscribers')
      .select(['id', 'token_key'])
      .where('id', 'in', subscriberIds)
      .orderBy('id')
      .execute();
    const recorder = createRecorder(db, { flushMs: 60_000, writeChunk: 1 });
    const click = (row: (typeof keys)[number]) =>
      recorder.record({
        campaignId: campaign.id,
        subscriberId: row.id,
        subscriberKey: row.token_key,
        kind: 'click',
        linkIndex: 0,
        at: new Date(),
      });
    // A flush under way, events arriving meanwhile, another caller waiting to flush them: the
    // close must not resolve while that second write is still going on.
    click(keys[0]!);
    const first = recorder.flush();
    click(keys[1]!);
    click(keys[1]!);
    const second = recorder.flush();
    await recorder.close();
    const rows = await engagementDb(db)
      .selectFrom('engagement')
      .select(['subscriber_id', 'count'])
      .where('campaign_id', '=', campaign.id)
      .orderBy('subscriber_id')
      .execute();
    expect(rows.map((row) => [row.subscriber_id, Number(row.count)])).toEqual([
      [keys[0]!.id, 1],
      [keys[1]!.id, 2],
    ]);
    await Promise.all([first, second]);
    expect(recorder.pending).toBe(0);
    // Leave the shared subscribers' rows as the tests below expect them.
    for (const table of ['engagement', 'engagement_link_clicks', 'engagement_hourly'] as const)
      await engagementDb(db).deleteFrom(table).where('campaign_id', '=', campaign.id).execute();
  });

  it('folds rows older than the retention into totals and deletes them; the report stays', async () => {
    const db = app.store.db;
    const old = '2025-01-10T08:00:00.000Z';
    await writeEngagement(db, {
      counts: [
        {
          campaignId,
          subscriberId: subscriberIds[1]!,
          kind: 'click',
          firstAt: old,
          lastAt: old,
          count: 2,
        },
      ],
      linkClicks: [
        {
          campaignId,
          linkIndex: 0,
          subscriberId: subscriberIds[1]!,
          firstAt: old,
          lastAt: old,
          count: 2,
        },
      ],
      hourly: [{ campaignId, kind: 'click', hour: '2025-01-10T08', events: 2 }],
    });
    const before = await campaignReport(db, campaignId);
    expect(before!.links[0]).toMatchObject({ uniqueClicks: 2, clicks: 5 });
    const now = new Date('2026-12-01T12:00:00Z');
    // Nothing is old enough at ten years.
    expect(await applyRetention(db, 3650, now)).toEqual({ engagementRows: 0, linkClickRows: 0 });
    expect(await applyRetention(db, 365, now)).toEqual({ engagementRows: 1, linkClickRows: 1 });
    const rows = await engagementDb(db)
      .selectFrom('engagement')
      .select('subscriber_id')
      .where('campaign_id', '=', campaignId)
      .where('kind', '=', 'click')
      .execute();
    expect(rows.map((r) => r.subscriber_id)).toEqual([subscriberIds[0]]);
    const after = await campaignReport(db, campaignId);
    expect(after!.links[0]).toMatchObject({ uniqueClicks: 2, clicks: 5 });
    expect(after!.clicks).toMatchObject({ unique: 2, total: 5 });
    // Running it again changes nothing.
    expect(await applyRetention(db, 365, now)).toEqual({ engagementRows: 0, linkClickRows: 0 });
    expect((await campaignReport(db, campaignId))!.clicks).toMatchObject({ unique: 2, total: 5 });
  });

  it('serves the report over the API and the CLI, and the tracking override over the API', async () => {
    const db = app.store.db;
    const expected = await campaignReport(db, campaignId);
    const server = await buildServer(app);
    try {
      const auth = { authorization: `Bearer ${(await createApiKey(db, 'editor')).key}` };
      const report = await server.inject({
        method: 'GET',
        url: `/api/campaigns/${campaignId}/report`,
        headers: auth,
      });
      expect(report.statusCode).toBe(200);
      expect(report.json()).toEqual(expected);
      const missing = await server.inject({
        method: 'GET',
        url: '/api/campaigns/999999/report',
        headers: auth,
      });
      expect(missing.statusCode).toBe(404);
      const badId = await server.inject({
        method: 'GET',
        url: '/api/campaigns/abc/report',
        headers: auth,
      });
      expect(badId.statusCode).toBe(400);
      const anonymous = await server.inject({
        method: 'GET',
        url: `/api/campaigns/${campaignId}/report`,
      });
      expect(anonymous.statusCode).toBe(401);
      const bad = await server.inject({
        method: 'PUT',
        url: `/api/campaigns/${campaignId}/tracking`,
        headers: auth,
        payload: { clicks: 'yes' },
      });
      expect(bad.statusCode).toBe(400);
      expect(JSON.stringify(bad.json())).toContain('clicks');
      const cleared = await server.inject({
        method: 'PUT',
        url: `/api/campaigns/${campaignId}/tracking`,
        headers: auth,
        payload: { clicks: null },
      });
      expect(cleared.json()).toEqual({ id: campaignId, clicks: null });
      const trends = await server.inject({
        method: 'GET',
        url: '/api/topics/russia-china-relations/trends?weeks=2',
        headers: auth,
      });
      expect(trends.statusCode).toBe(200);
      expect(trends.json().weeks).toHaveLength(2);
      const badWeeks = await server.inject({
        method: 'GET',
        url: '/api/topics/russia-china-relations/trends?weeks=0',
        headers: auth,
      });
      expect(badWeeks.statusCode).toBe(400);
      const noTopic = await server.inject({
        method: 'GET',
        url: '/api/topics/no-such-topic/trends',
        headers: auth,
      });
      expect(noTopic.statusCode).toBe(404);
    } finally {
      await server.close();
    }
    const cli = await run(
      'node',
      ['bin/herald.js', 'campaign', 'report', String(campaignId), '--json'],
      {
        env: {
          ...process.env,
          DATABASE_URL: target.databaseUrl,
          HERALD_SECRET: 'herald-test-secret-0123456789-abcdef',
          LOG_LEVEL: '',
        },
      },
    );
    expect(JSON.parse(cli.stdout)).toEqual(expected);
  });

  it('gives per-topic weekly trends: follows gained and lost, campaign engagement', async () => {
    const db = app.store.db;
    const now = new Date();
    await db
      .updateTable('campaigns')
      .set({ started_at: now.toISOString() })
      .where('id', '=', campaignId)
      .execute();
    const earlier = new Date(now.getTime() - 8 * 86_400_000);
    await recordEvent(
      db,
      'unsubscribe.topic',
      { subscriberId: subscriberIds[1]!, detail: { topic: 'russia-china-relations' } },
      earlier.toISOString(),
    );
    const trend = await topicTrends(db, 'russia-china-relations', { weeks: 4, now });
    expect(trend.weeks.map((w) => w.week)).toHaveLength(4);
    const thisWeek = trend.weeks.at(-1)!;
    expect(thisWeek.week).toBe(weekStart(now).toISOString().slice(0, 10));
    const report = (await campaignReport(db, campaignId))!;
    expect(thisWeek).toMatchObject({
      gained: 2,
      campaigns: 1,
      delivered: report.delivered,
      uniqueClicks: report.clicks.unique,
      humanOpens: report.opens.human.unique,
    });
    const lostWeek = trend.weeks.find(
      (w) => w.week === weekStart(earlier).toISOString().slice(0, 10),
    );
    expect(lostWeek?.lost).toBe(1);
    expect(trend.weeks.reduce((n, w) => n + w.lost, 0)).toBe(1);
    const other = await topicTrends(db, 'climate', { weeks: 4, now });
    expect(other.weeks.every((w) => w.gained === 0 && w.lost === 0 && w.campaigns === 0)).toBe(
      true,
    );
  });

  it('erasing a subscriber removes their engagement rows', async () => {
    const db = app.store.db;
    const edb = engagementDb(db);
    const ann = subscriberIds[0]!;
    expect(
      (await edb.selectFrom('engagement').select('kind').where('subscriber_id', '=', ann).execute())
        .length,
    ).toBe(1);
    expect(await eraseSubscriber(db, ann)).toBe(true);
    expect(
      await edb.selectFrom('engagement').selectAll().where('subscriber_id', '=', ann).execute(),
    ).toEqual([]);
    expect(
      await edb
        .selectFrom('engagement_link_clicks')
        .selectAll()
        .where('subscriber_id', '=', ann)
        .execute(),
    ).toEqual([]);
    // The other subscriber's rows stay.
    expect(
      (
        await edb
          .selectFrom('engagement')
          .selectAll()
          .where('subscriber_id', '=', subscriberIds[1]!)
          .execute()
      ).length,
    ).toBe(1);
  });
});
