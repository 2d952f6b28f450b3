// Click and open tracking end to end: a campaign sent through the real queues into the SMTP
// sink, its tracked links followed over HTTP, the report read back; retention and erasure.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Parser } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { newsletterInput } from '../src/delivery/renderer.ts';
import { campaignReport } from '../src/engagement/report.ts';
import { openTrackingConsent, setOpenTrackingConsent } from '../src/engagement/store.ts';
import { buildServer } from '../src/http/server.ts';
import { compileNewsletter } from '../src/templates/index.ts';
import { signToken, verifyToken } from '../src/tokens/index.ts';
import { topicNames } from '../src/topics/catalogue.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const PUBLIC = 'https://news.example.org';
const TOPIC = 'russia-china-relations';
const FIRST_URL = 'https://news.example.org/world/lavrov-china?utm_source=herald&ref=mail';
const SECOND_URL = 'https://example.com/analysis/b?x=1&y=%C3%A9';

/** The web links of compiled HTML, in order, once each, entities decoded. */
function webLinks(html: string): string[] {
  const hrefs: string[] = [];
  const parser = new Parser({
    onopentag(name, attributes) {
      if (name === 'a' && attributes.href !== undefined) hrefs.push(attributes.href);
    },
  });
  parser.write(html);
  parser.end();
  return [...new Set(hrefs.filter((href) => /^https?:\/\//.test(href)))];
}

describe.each(DIALECTS)('click and open tracking on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        TRACK_CLICKS: 'on',
        TRACK_OPENS: 'on',
        OPEN_MACHINE_SECONDS: '30',
      }),
    );
    server = await buildServer(herald.app);
    await server.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await server?.close();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('asks for open-tracking consent on the preferences page and keeps the choice', async () => {
    const db = herald.app.store.db;
    await seedFixtureArticle(db);
    const [id] = await seedSubscribers(db, [{ email: 'eve@example.net', topics: [TOPIC] }]);
    const key = (
      await db
        .selectFrom('subscribers')
        .select('token_key')
        .where('id', '=', id!)
        .executeTakeFirstOrThrow()
    ).token_key;
    const token = signToken(herald.app.config.HERALD_SECRET, 'preferences', {
      subscriberId: id!,
      subscriberKey: key,
    });
    const page = await server.inject({ method: 'GET', url: `/preferences?token=${token}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/<input type="checkbox" name="track_opens" value="yes">/);
    const save = (extra: string) =>
      server.inject({
        method: 'POST',
        url: `/preferences?token=${token}`,
        headers: { origin: PUBLIC, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `action=save&topics=${TOPIC}${extra}`,
      });
    expect((await save('&track_opens=yes')).statusCode).toBe(200);
    expect(await openTrackingConsent(db, id!)).toBe(true);
    const again = await server.inject({ method: 'GET', url: `/preferences?token=${token}` });
    expect(again.body).toMatch(/name="track_opens" value="yes" checked>/);
    expect((await save('')).statusCode).toBe(200);
    expect(await openTrackingConsent(db, id!)).toBe(false);
    await db.deleteFrom('subscriptions').where('subscriber_id', '=', id!).execute();
    await db.deleteFrom('subscribers').where('id', '=', id!).execute();
  });

  it('redirects every tracked link to its original, counts unique clicks per link and consented opens', async () => {
    const db = herald.app.store.db;
    const config = herald.app.config;
    const first = await seedFixtureArticle(db);
    await db.updateTable('articles').set({ url: FIRST_URL }).where('id', '=', first.id).execute();
    const second = (
      await saveArticle(
        db,
        parseArticle({
          body: Buffer.from(
            `---\ntitle: What Beijing wants\nurl: ${SECOND_URL}\n---\nAn analysis of the visit.\n`,
          ),
          filename: 'second.md',
        }),
      )
    ).article;
    const ids = await seedSubscribers(
      db,
      ['ann', 'bob', 'cid', 'dee'].map((name) => ({
        email: `${name}@example.net`,
        name,
        topics: [TOPIC],
      })),
    );
    // ann and cid consented to open tracking; bob and dee did not.
    await setOpenTrackingConsent(db, ids[0]!, true);
    await setOpenTrackingConsent(db, ids[2]!, true);

    const input = createCampaignSchema.parse({
      articleIds: [first.id, second.id],
      topics: [TOPIC],
    });
    const { campaign } = await createCampaign(db, input, new Date().toISOString());
    await sendCampaign({ db, config, queues: herald.queues, now: () => new Date() }, campaign.id);
    await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    expect(sink.messages).toHaveLength(4);

    // The original links, from the same newsletter compiled without tracking.
    const stored = await db.selectFrom('articles').selectAll().execute();
    expect(stored.length).toBe(2);
    const names = await topicNames(db, [TOPIC]);
    const untracked = await compileNewsletter(
      newsletterInput(
        campaign,
        [first, second].map((a) => ({ ...a, url: a.id === first.id ? FIRST_URL : SECOND_URL })),
        names,
        config.PUBLIC_URL,
      ),
      config,
    );
    // The two articles' links and the "View in browser" link of the public archive.
    const originals = webLinks(untracked.html);
    expect(originals).toHaveLength(3);
    expect(originals).toEqual(
      expect.arrayContaining([FIRST_URL, SECOND_URL, expect.stringMatching(/\/archive\//)]),
    );
    const firstLink = originals.indexOf(FIRST_URL);
    const secondLink = originals.indexOf(SECOND_URL);

    const byName = new Map<string, { html: string; raw: string }>();
    for (const message of sink.messages) {
      const parsed = await sink.parse(message);
      byName.set(message.to[0]!.split('@')[0]!, {
        html: String(parsed.html),
        raw: message.raw.toString('utf8'),
      });
      const html = String(parsed.html);
      // Every web link is tracked, none of the footer's; the text part keeps the originals.
      expect(webLinks(html).filter((h) => !h.startsWith(`${PUBLIC}/r/`))).toEqual([
        expect.stringMatching(/^https:\/\/news\.example\.org\/unsubscribe\?token=/),
        expect.stringMatching(/^https:\/\/news\.example\.org\/preferences\?token=/),
      ]);
      expect(parsed.text).toContain(FIRST_URL);
      const unfolded = message.raw.toString('utf8').replace(/\r\n[ \t]+/g, ' ');
      const listUnsubscribe = /^List-Unsubscribe: ([^\r\n]*)/m.exec(unfolded)?.[1];
      expect(listUnsubscribe).toMatch(/^<https:\/\/news\.example\.org\/unsubscribe\?token=/);
      expect(listUnsubscribe).not.toContain('/r/');
    }

    const tracked = (name: string) =>
      [...byName.get(name)!.html.matchAll(/href="(https:\/\/news\.example\.org\/r\/[^"]+)"/g)].map(
        (m) => m[1]!,
      );
    const linkTo = (name: string, index: number) => {
      const href = tracked(name).find((h) => {
        const v = verifyToken(config.HERALD_SECRET, 'click', h.slice(`${PUBLIC}/r/`.length));
        return v.ok && v.claims.linkIndex === index;
      });
      expect(href).toBeDefined();
      return href!.replace(PUBLIC, base);
    };
    const follow = async (url: string) => {
      const response = await fetch(url, { redirect: 'manual' });
      await response.arrayBuffer();
      return response;
    };

    // Each tracked link answers 302 with the exact original URL.
    for (const href of tracked('ann')) {
      const token = href.slice(`${PUBLIC}/r/`.length);
      const verified = verifyToken(config.HERALD_SECRET, 'click', token);
      expect(verified.ok).toBe(true);
      if (!verified.ok) continue;
      const response = await follow(href.replace(PUBLIC, base));
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe(originals[verified.claims.linkIndex!]);
    }
    // ann: the first article twice more (3 in all with the loop above) and the second once (2
    // in all); bob: the first once; cid: the second once; dee: nothing.
    await follow(linkTo('ann', firstLink));
    await follow(linkTo('ann', firstLink));
    await follow(linkTo('ann', secondLink));
    await follow(linkTo('bob', firstLink));
    await follow(linkTo('cid', secondLink));

    // One altered character: 404 page, no Location.
    const good = linkTo('bob', secondLink);
    const last = good.at(-1)!;
    const altered = `${good.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
    const bad = await follow(altered);
    expect(bad.status).toBe(404);
    expect(bad.headers.get('location')).toBeNull();
    expect(bad.headers.get('content-type')).toContain('text/html');
    const middle = good.length - 20;
    const alteredBody = `${good.slice(0, middle)}${good[middle] === 'x' ? 'y' : 'x'}${good.slice(middle + 1)}`;
    expect((await follow(alteredBody)).status).toBe(404);

    // Opens: only the consenting readers' messages carry the image.
    const pixel = (name: string) =>
      /<img src="https:\/\/news\.example\.org\/o\/([^"]+)"/.exec(byName.get(name)!.html)?.[1];
    expect(pixel('ann')).toBeDefined();
    expect(pixel('cid')).toBeDefined();
    expect(pixel('bob')).toBeUndefined();
    expect(pixel('dee')).toBeUndefined();
    const open = (name: string, userAgent: string) =>
      fetch(`${base}/o/${pixel(name)}`, { headers: { 'user-agent': userAgent } });
    const browser = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0';
    // A proxy fetch: machine, whenever it comes.
    const proxied = await open(
      'ann',
      'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
    );
    expect(proxied.status).toBe(200);
    expect(proxied.headers.get('content-type')).toBe('image/gif');
    // A browser right after delivery (within OPEN_MACHINE_SECONDS): machine (prefetch).
    expect((await open('cid', browser)).status).toBe(200);
    // A browser an hour after delivery: a reader.
    await db
      .updateTable('deliveries')
      .set({ sent_at: new Date(Date.now() - 3_600_000).toISOString() })
      .where('campaign_id', '=', campaign.id)
      .where('subscriber_id', '=', ids[0]!)
      .execute();
    expect((await open('ann', browser)).status).toBe(200);
    expect((await open('ann', browser)).status).toBe(200);

    // Closing the server flushes the buffered events.
    await server.close();
    const report = await campaignReport(db, campaign.id);
    expect(report).not.toBeNull();
    expect(report!.delivered).toBe(4);
    const counts = new Map(report!.links.map((l) => [l.url, [l.uniqueClicks, l.clicks]]));
    expect(counts.get(FIRST_URL)).toEqual([2, 4]);
    expect(counts.get(SECOND_URL)).toEqual([2, 3]);
    expect(
      report!.links
        .filter((l) => l.url.includes('/archive/'))
        .map((l) => [l.uniqueClicks, l.clicks]),
    ).toEqual([[1, 1]]);
    expect(report!.links.find((l) => l.url === FIRST_URL)!.clickRate).toBe(0.5);
    expect(report!.clicks).toEqual({ unique: 3, total: 8, rate: 0.75 });
    expect(report!.opens.human).toEqual({ unique: 1, total: 2, rate: 0.25 });
    expect(report!.opens.machine).toEqual({ unique: 2, total: 2 });
    expect(report!.hourly.reduce((n, h) => n + h.clicks, 0)).toBe(8);
    expect(report!.hourly.reduce((n, h) => n + h.opens + h.machineOpens, 0)).toBe(4);
  });
});
