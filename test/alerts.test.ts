// Alert rules end to end (real Redis, workers, SMTP sink) on both dialects: a new feed item
// matching a hold rule becomes one alert campaign (one even when two rules match) that reaches
// the topic's followers only, after the hold; an approval rule leaves a draft until sent; a
// hold stopped by an editor sends nothing; a rule's minimum strength is respected.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAlertRule } from '../src/alerts/rules.ts';
import { getCampaign } from '../src/campaigns/repository.ts';
import { cancelCampaign, sendCampaign } from '../src/delivery/control.ts';
import { addFeed } from '../src/feeds/repository.ts';
import { pollNow } from '../src/feeds/service.ts';
import { newsroomDb } from '../src/store/schema-newsroom.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type FeedServer, startFeedServer } from './helpers/feed-server.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const fixtures = resolve(import.meta.dirname, 'fixtures/articles');
const fixture = (name: string) => readFileSync(resolve(fixtures, name), 'utf8');

function rssItem(name: string, guid: string): string {
  const article = JSON.parse(fixture(name)) as { title: string; paragraphs: string[] };
  const html = article.paragraphs.map((p) => `<p>${p}</p>`).join('');
  return `<item><title>${article.title}</title><link>https://news.example/${guid}</link><guid>${guid}</guid><content:encoded><![CDATA[${html}]]></content:encoded></item>`;
}
const rss = (items: string[]) =>
  `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Wire</title><link>https://news.example/</link><description>d</description>${items.join('')}</channel></rss>`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DIALECTS)('alert rules (%s)', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let server: FeedServer;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }));
    const db = herald.app.store.db;
    await ensureCatalogue(db);
    await seedSubscribers(db, [
      { email: 'ana@example.org', topics: ['russia-china-relations'] },
      { email: 'bo@example.org', topics: ['russia-china-relations', 'china'] },
      { email: 'cy@example.org', topics: ['climate'] },
      { email: 'di@example.org', topics: ['china'] },
      { email: 'ed@example.org', topics: ['israel-gaza'] },
      { email: 'fi@example.org', topics: ['belt-and-road'] },
    ]);
    server = await startFeedServer();
    server.routes.set('/wire.xml', {
      body: rss([
        rssItem('power-of-siberia.json', 'siberia'),
        rssItem('gaza-ceasefire.json', 'gaza'),
        rssItem('bri-kazakhstan.json', 'bri'),
      ]),
    });
    server.routes.set('/pages.xml', {
      type: 'application/atom+xml',
      body: `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>P</title><id>urn:p</id><updated>2026-12-01T00:00:00Z</updated><entry><id>urn:floods</id><title>Floods in Spain</title><link href="${server.base}/floods.html"/><updated>2026-12-01T00:00:00Z</updated><summary>s</summary></entry></feed>`,
    });
    server.routes.set('/floods.html', { type: 'text/html', body: fixture('floods.html') });
    for (const path of ['/wire.xml', '/pages.xml']) {
      await addFeed(db, { url: `${server.base}${path}`, allowPrivate: true }, 3);
    }
    // The issue's own case: a 60 s hold on russia-china-relations (the longest matching hold wins).
    await addAlertRule(db, { topic: 'russia-china-relations', mode: 'hold', hold: '60s' });
    await addAlertRule(db, { topic: 'russia', mode: 'hold', hold: '2s' });
    await addAlertRule(db, { topic: 'climate', mode: 'approval' });
    await addAlertRule(db, { topic: 'israel-gaza', mode: 'hold', hold: '3s' });
    await addAlertRule(db, { topic: 'belt-and-road', mode: 'hold', hold: '1s', minStrength: 100 });
  });
  afterAll(async () => {
    await server?.close();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('holds, asks for approval, can be stopped, and mails followers only', async () => {
    const db = herald.app.store.db;
    const polledAt = Date.now();
    const reports = await pollNow(herald.app, herald.queues);
    expect(reports.map((r) => r.created.length)).toEqual([3, 1]);
    const alerts = await newsroomDb(db).selectFrom('alert_campaigns').selectAll().execute();
    // Siberia (two rules, one campaign), Gaza, floods; the belt-and-road article is too weak.
    expect(alerts).toHaveLength(3);
    const byArticle = new Map(alerts.map((a) => [a.article_id, a]));
    const [siberiaId, gazaId, briId] = reports[0]!.created;
    expect(byArticle.has(briId!)).toBe(false);
    const siberia = byArticle.get(siberiaId!)!;
    const gaza = byArticle.get(gazaId!)!;
    const floods = byArticle.get(reports[1]!.created[0]!)!;
    expect([siberia.mode, gaza.mode, floods.mode]).toEqual(['hold', 'hold', 'approval']);

    const siberiaCampaign = await getCampaign(db, siberia.campaign_id);
    expect(siberiaCampaign).toMatchObject({ status: 'scheduled', template: 'alert' });
    expect(Date.parse(siberia.send_at!) - polledAt).toBeGreaterThanOrEqual(59_000);
    expect(siberiaCampaign!.audienceTopics.sort()).toEqual(['russia', 'russia-china-relations']);
    expect(await getCampaign(db, floods.campaign_id)).toMatchObject({ status: 'draft' });

    // The editor stops the Gaza alert during its hold.
    const controls = {
      db,
      config: herald.app.config,
      queues: herald.queues,
      now: () => new Date(),
    };
    await cancelCampaign(controls, gaza.campaign_id);

    await waitForCampaign(herald.app, siberia.campaign_id, (r) => r.status === 'sent', 150_000);
    expect(sink.messages.map((m) => m.to[0]).sort()).toEqual(['ana@example.org', 'bo@example.org']);
    // Not before the hold ended.
    for (const message of sink.messages) {
      expect(message.at).toBeGreaterThanOrEqual(Date.parse(siberia.send_at!) - 50);
    }

    // Past the Gaza hold: nothing for it; the approval alert still waits.
    await sleep(Math.max(0, Date.parse(gaza.send_at!) - Date.now()) + 1_500);
    expect(await getCampaign(db, gaza.campaign_id)).toMatchObject({ status: 'cancelled' });
    expect(await getCampaign(db, floods.campaign_id)).toMatchObject({ status: 'draft' });
    expect(sink.messages).toHaveLength(2);

    await sendCampaign(controls, floods.campaign_id);
    await waitForCampaign(herald.app, floods.campaign_id, (r) => r.status === 'sent', 60_000);
    expect(sink.messages.map((m) => m.to[0]).sort()).toEqual([
      'ana@example.org',
      'bo@example.org',
      'cy@example.org',
    ]);

    // Polling again makes no second alert.
    server.routes.set('/wire.xml', { body: `${server.routes.get('/wire.xml')!.body} ` });
    const again = await pollNow(herald.app, herald.queues);
    expect(again.map((r) => r.created.length)).toEqual([0, 0]);
    expect(await newsroomDb(db).selectFrom('alert_campaigns').selectAll().execute()).toHaveLength(
      3,
    );
  }, 300_000);
});
