// The archive's Done-when, end to end: the seed article's campaign goes through the real queues
// to a real SMTP sink; the "View in browser" link of a received message opens its archive page
// in Chromium (375 and 1280 px, screenshots kept) with no subscriber data in it; the topic's
// RSS parses back with feedsmith; a --no-archive campaign stays out of pages, index and feed.

import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseRssFeed } from 'feedsmith';
import type { ParsedMail } from 'mailparser';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../src/cli/lifecycle.ts';
import { createApiKey } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import { startWorkers } from '../workers/index.ts';
import { launchChromium } from './helpers/browser.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

/** Where the screenshots go (look at them: layout bugs do not fail assertions). */
const SCREENS = resolve(import.meta.dirname, '../test-results/archive');
const TOPIC = 'russia-china-relations';

const READERS = [
  { email: 'ana.petrova@example.net', name: 'Ana Petrova' },
  { email: 'bo.lindqvist@example.net', name: 'Bo Lindqvist' },
  { email: 'chen.wei@example.net', name: 'Chen Wei' },
];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

/** The href of the first <a> whose text is `label` in a message's HTML part, or undefined. */
function linkByText(mail: ParsedMail, label: string): string | undefined {
  const html = typeof mail.html === 'string' ? mail.html : '';
  const match = new RegExp(`<a [^>]*href="([^"]+)"[^>]*>${label}</a>`).exec(html);
  return match?.[1]?.replace(/&amp;/g, '&');
}

describe('archive: web version, index and RSS of a sent campaign (SQLite, chromium)', () => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;
  let auth: { authorization: string };
  let workers: Service[] = [];
  let archivedId: number;
  let hiddenId: number;
  let articleText: string;
  const mails: ParsedMail[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await openTestStore('sqlite');
    // Workers start after the sends are accepted: with the reconciler running, a send's
    // "remove the waiting fan-out job" step can race it (a 500 seen here; see the report).
    herald = await startHerald(
      testEnv(t.databaseUrl, { SMTP_URL: sink.url, PUBLIC_URL: base }),
      false,
    );
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    articleText = article.paragraphs[1]!;
    await seedSubscribers(
      db,
      READERS.map((r) => ({ ...r, topics: [TOPIC] })),
    );
    auth = { authorization: `Bearer ${(await createApiKey(db, 'editor')).key}` };
    server = await buildServer(herald.app);
    await server.listen({ port, host: '127.0.0.1' });

    const create = async (payload: Record<string, unknown>) => {
      const answer = await server.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: auth,
        payload: { articleIds: [article.id], topics: [TOPIC], ...payload },
      });
      expect(answer.statusCode, answer.body).toBe(201);
      return answer.json() as { id: number; archive: boolean };
    };
    const archived = await create({});
    const hidden = await create({ subject: 'Kept out of the archive', archive: false });
    expect(archived.archive).toBe(true);
    expect(hidden.archive).toBe(false);
    archivedId = archived.id;
    hiddenId = hidden.id;
    for (const id of [archivedId, hiddenId]) {
      const sent = await server.inject({
        method: 'POST',
        url: `/api/campaigns/${id}/send`,
        headers: auth,
      });
      expect(sent.statusCode, sent.body).toBe(200);
    }
    workers = await startWorkers(herald.app);
    for (const id of [archivedId, hiddenId]) {
      await waitForCampaign(herald.app, id, (r) => r.status === 'sent');
    }
    for (const message of sink.messages) mails.push(await sink.parse(message));
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    for (const worker of [...workers].reverse()) await worker.stop();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('a received message links to the archive page, which renders without subscriber data', async () => {
    const archivedMails = mails.filter((m) => m.subject !== 'Kept out of the archive');
    expect(archivedMails).toHaveLength(READERS.length);
    const links = new Set(archivedMails.map((m) => linkByText(m, 'View in browser')));
    // One URL for every recipient: nothing personal in it.
    expect(links.size).toBe(1);
    const link = [...links][0]!;
    expect(link).toMatch(new RegExp(`^${base}/archive/${archivedId}-russia-s-top-diplomat`));
    expect(archivedMails[0]!.text).toContain(link);

    // What would identify a reader: names, addresses, their link tokens and token keys.
    const secrets = READERS.flatMap((r) => [r.name, r.email, r.email.split('@')[0]!]);
    for (const mail of archivedMails) {
      const unsubscribe = linkByText(mail, 'Unsubscribe');
      expect(unsubscribe).toBeDefined();
      secrets.push(new URL(unsubscribe!).searchParams.get('token')!);
    }
    const keys = await herald.app.store.db.selectFrom('subscribers').select('token_key').execute();
    secrets.push(...keys.map((k) => k.token_key));

    mkdirSync(SCREENS, { recursive: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    // CSP refusals and script errors show in the console; failed loads as responses (the
    // browser's own favicon probe aside: the site has none).
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico'))
        problems.push(`${response.status()} ${response.url()}`);
    });
    const answer = await page.goto(link);
    expect(answer?.status()).toBe(200);
    expect(answer?.headers()['cache-control']).toMatch(/public, max-age=\d+/);
    const html = await page.content();
    for (const secret of secrets) expect(html, `page holds "${secret}"`).not.toContain(secret);
    expect(html).not.toMatch(/Hello,|\/unsubscribe|\/preferences|\{\{/i);
    expect(html).not.toMatch(/<script/i);
    expect(await page.locator('article.letter').textContent()).toContain(articleText.slice(0, 80));
    expect(await page.locator('a[href="/subscribe"]').count()).toBeGreaterThan(0);
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: join(SCREENS, `issue-${width}.png`), fullPage: true });
      const overflow = (await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      )) as number;
      expect(overflow, `issue page at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
    }

    // The index page lists the archived issue (and only it) and looks right too.
    await page.goto(`${base}/archive/topics/${TOPIC}`);
    expect(await page.locator('.issue h2 a').allInnerTexts()).toEqual([archivedMails[0]!.subject]);
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: join(SCREENS, `topic-${width}.png`), fullPage: true });
      const overflow = (await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      )) as number;
      expect(overflow, `topic index at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
    }
    // Nothing blocked by the Content-Security-Policy, no script errors.
    expect(problems).toEqual([]);
    await context.close();
  });

  it('the topic RSS parses back as RSS 2.0 with the campaign item; the hidden one is absent', async () => {
    const answer = await fetch(`${base}/archive/topics/${TOPIC}/rss.xml`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/rss\+xml/);
    const xml = await answer.text();
    expect(xml).toMatch(/<rss version="2\.0">/);
    const feed = parseRssFeed(xml);
    expect(feed.items).toHaveLength(1);
    const item = feed.items![0]!;
    const campaign = await herald.app.store.db
      .selectFrom('campaigns')
      .select(['subject', 'started_at'])
      .where('id', '=', archivedId)
      .executeTakeFirstOrThrow();
    expect(item.title).toBe(campaign.subject);
    expect(item.link).toMatch(new RegExp(`^${base}/archive/${archivedId}-`));
    expect(item.guid).toEqual({ value: item.link, isPermaLink: true });
    expect(new Date(item.pubDate!).getTime()).toBe(
      Math.floor(new Date(campaign.started_at!).getTime() / 1000) * 1000,
    );
    const all = parseRssFeed(await (await fetch(`${base}/archive/rss.xml`)).text());
    expect(all.items?.map((i) => i.title)).toEqual([campaign.subject]);
  });

  it('a --no-archive campaign answers 404, has no link in its messages, is in no index', async () => {
    const hiddenMails = mails.filter((m) => m.subject === 'Kept out of the archive');
    expect(hiddenMails).toHaveLength(READERS.length);
    for (const mail of hiddenMails) {
      expect(linkByText(mail, 'View in browser')).toBeUndefined();
      expect(mail.text).not.toContain('/archive/');
    }
    expect((await fetch(`${base}/archive/${hiddenId}-kept-out-of-the-archive`)).status).toBe(404);
    expect((await fetch(`${base}/archive/${hiddenId}`)).status).toBe(404);
    const index = await (await fetch(`${base}/archive`)).text();
    expect(index).not.toContain('Kept out of the archive');
    expect(index).toContain(`/archive/${archivedId}-`);
  });

  it('the editor toggles a sent campaign out of the archive and back', async () => {
    const off = await server.inject({
      method: 'PUT',
      url: `/api/campaigns/${archivedId}/archive`,
      headers: auth,
      payload: { archive: false },
    });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toEqual({ id: archivedId, archive: false, url: null });
    expect((await fetch(`${base}/archive/${archivedId}`)).status).toBe(404);
    const feed = parseRssFeed(
      await (await fetch(`${base}/archive/topics/${TOPIC}/rss.xml`)).text(),
    );
    expect(feed.items ?? []).toHaveLength(0);

    const on = await server.inject({
      method: 'PUT',
      url: `/api/campaigns/${archivedId}/archive`,
      headers: auth,
      payload: { archive: true },
    });
    expect(on.json()).toMatchObject({ id: archivedId, archive: true });
    // The short address redirects to the canonical one.
    const short = await fetch(`${base}/archive/${archivedId}`, { redirect: 'manual' });
    expect(short.status).toBe(301);
    expect(short.headers.get('location')).toBe(
      (on.json() as { url: string }).url.slice(base.length),
    );
  });
});
