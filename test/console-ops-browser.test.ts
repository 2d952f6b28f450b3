// The dashboard and the ops pages in headless Chromium at 1280 and 375 px: screenshots to
// test-results/console/<page>-<width>.png for a person to look at, axe-core with no serious or
// critical violation on each page, no CSP error (htmx polls the live parts under
// script-src 'self'), the dashboard's live part updating without a reload, the drain and
// key-revoke confirm steps, and what an editor and an ops user can and cannot reach.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { campaignStatus, createCampaign, moveCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { recordFailureWindow } from '../src/delivery/progress.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { insertLedgerRows, recordOutcomes } from '../src/ledger/ledger.ts';
import { applyBounce } from '../src/subscribers/events.ts';
import { addSuppression } from '../src/subscribers/suppressions.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, createConsoleUser } from './helpers/console.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const SHOTS = resolve(import.meta.dirname, '../test-results/console');
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown }>;
}

async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as {
    violations: AxeViolation[];
  };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${page.url()}: ${v.id} (${v.help}) at ${JSON.stringify(v.nodes.map((n) => n.target))}`,
    );
}

const RAW = (i: number) =>
  [
    'Return-Path: <bounce+c7-s1@news.example.com>',
    `X-Original-To: reader${i}@example.org`,
    'From: Herald News <news@example.com>',
    `To: Reader ${i} <reader${i}@example.org>`,
    `Subject: Morning briefing: markets, ministers and the match (${i})`,
    'Date: Thu, 01 Jan 2026 07:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<h1 style="font-family:Georgia">Morning briefing ${i}</h1><p>The day's news in five minutes.</p>`,
    '',
  ].join('\r\n');

describe('ops pages in Chromium', () => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;
  let dataDir: string;
  let sendingId: number;
  let subscriberIds: number[];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await openTestStore('sqlite');
    dataDir = mkdtempSync(join(tmpdir(), 'herald-ops-browser-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('opsbrowser'),
        MAIL_TRANSPORT: 'outbox',
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();

    const db = app.store.db;
    const now = new Date().toISOString();
    const article = await seedFixtureArticle(db);
    const topic = article.topics[0]!;
    const zones = ['Europe/London', 'America/New_York', 'Asia/Tokyo'];
    subscriberIds = await seedSubscribers(
      db,
      Array.from({ length: 40 }, (_, i) => ({
        email: `reader${i}@example.org`,
        topics: [topic],
        timezone: zones[i % 3]!,
      })),
    );
    const sending = await createCampaign(
      db,
      createCampaignSchema.parse({
        articleIds: [article.id],
        subject: 'Budget day: what the chancellor announced',
      }),
      now,
    );
    sendingId = sending.campaign.id;
    await moveCampaign(db, sendingId, ['draft'], 'sending', now, { startedAt: now });
    await insertLedgerRows(
      db,
      sendingId,
      subscriberIds.map((subscriberId) => ({ subscriberId })),
      now,
    );
    await recordOutcomes(
      db,
      sendingId,
      subscriberIds.slice(0, 24).map((subscriberId, i) => ({
        subscriberId,
        status: i < 22 ? ('sent' as const) : ('failed' as const),
        reply: i < 22 ? '250 ok' : '554 refused',
        attempted: true,
      })),
      now,
    );
    await applyBounce(db, {
      subscriberId: subscriberIds[3]!,
      campaignId: sendingId,
      kind: 'hard',
      reply: '550 5.1.1 <reader3@example.org>: no such user',
    });
    await applyBounce(db, {
      subscriberId: subscriberIds[5]!,
      campaignId: sendingId,
      kind: 'complaint',
      reply: 'abuse report from mailbox provider',
    });
    await recordFailureWindow(app.redis(), app.config.QUEUE_PREFIX, sendingId, 24, 2, new Date());
    const scheduled = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], subject: 'The weekend long read' }),
      now,
    );
    await moveCampaign(db, scheduled.campaign.id, ['draft'], 'scheduled', now, {
      scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      localTime: '07:00',
    });
    mkdirSync(app.config.outboxDir, { recursive: true });
    for (let i = 0; i < 30; i += 1) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
      const name = `${at.toISOString().replace(/[:.]/g, '-')}-m${i}.eml`;
      writeFileSync(join(app.config.outboxDir, name), RAW(i));
      utimesSync(join(app.config.outboxDir, name), at, at);
    }
    await addSuppression(db, 'former.reader@example.org', 'unsubscribe');
    await addSuppression(db, 'asked.by.phone@example.org', 'manual', 'asked by phone');
    await createApiKey(db, 'editor', 'CMS import script');
    await createApiKey(db, 'ops', 'Monitoring');
    const queues = await app.queues();
    await queues.deliveries.add('batch', { campaignId: sendingId, batch: 1 });
    await queues.digests.pause();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    const queues = await app.queues();
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const width of [1280, 375]) {
    it(`walks every ops page as an admin at ${width} px`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const cspErrors: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text()))
          cspErrors.push(message.text());
      });
      const violations: string[] = [];
      const shoot = async (name: string) => {
        await page.evaluate('window.scrollTo(0, 0)');
        await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
        violations.push(...(await seriousViolations(page)));
      };
      await browserSignIn(page, base, 'admin', server);

      // Dashboard: the live part updates without a reload once the ledger moves.
      await page.locator(`[data-campaign="${sendingId}"] [data-count="sent"]`).waitFor();
      const sentBefore = (await campaignStatus(app.store.db, sendingId)).sent;
      expect(await page.textContent(`[data-campaign="${sendingId}"] [data-count="sent"]`)).toBe(
        String(sentBefore),
      );
      await shoot('dashboard-admin');
      await recordOutcomes(
        app.store.db,
        sendingId,
        subscriberIds
          .slice(width === 1280 ? 24 : 30, width === 1280 ? 30 : 36)
          .map((subscriberId) => ({
            subscriberId,
            status: 'sent' as const,
            reply: '250 ok',
            attempted: true,
          })),
        new Date().toISOString(),
      );
      // htmx swaps the partial in place (a poll every 2 s); the page is not reloaded.
      await expect
        .poll(() => page.textContent(`[data-campaign="${sendingId}"] [data-count="sent"]`), {
          timeout: 10_000,
        })
        .toBe(String(sentBefore + 6));

      await page.goto(`${base}/console/queues`);
      await shoot('queues');
      await page.goto(`${base}/console/queues/deliveries/drain`);
      await shoot('queues-drain');
      await Promise.all([page.waitForURL(/done=drained/), page.click('button.danger')]);
      expect(await page.textContent('.notice-box')).toMatch(/Drained deliveries: removed \d+/);

      await page.goto(`${base}/console/outbox`);
      await shoot('outbox');
      await Promise.all([page.waitForURL(/\.eml$/), page.click('table a >> nth=0')]);
      await page.frameLocator('iframe.message-frame').locator('h1').waitFor();
      await shoot('outbox-message');

      await page.goto(`${base}/console/suppressions`);
      await shoot('suppressions');
      await page.fill('#s-email', 'not an address');
      await Promise.all([page.waitForLoadState(), page.click('form[role=search] button')]);
      expect(await page.textContent('#s-email-error')).toContain('is not an email address');
      await shoot('suppressions-error');
      await page.goto(`${base}/console/suppressions?email=asked.by.phone%40example.org`);
      await Promise.all([page.waitForURL(/\/remove$/), page.click('text=Remove…')]);
      await shoot('suppressions-remove');

      await page.goto(`${base}/console/health`);
      await shoot('health');

      await page.goto(`${base}/console/keys`);
      await page.selectOption('#key-role', 'ops');
      await page.fill('#key-label', `Grafana exporter ${width}`);
      await Promise.all([page.waitForLoadState(), page.click('text=Create key')]);
      expect(await page.inputValue('#new-key')).toMatch(/^hk_ops_/);
      await shoot('keys');
      await page.click(`[aria-label="Revoke Grafana exporter ${width}"]`);
      await shoot('keys-revoke');
      await Promise.all([page.waitForURL(/revokedKey=1/), page.click('button.danger')]);
      expect(await page.locator(`text=Grafana exporter ${width}`).count()).toBe(0);

      expect(violations).toEqual([]);
      expect(cspErrors).toEqual([]);
      await context.close();
    }, 300_000);
  }

  it('shows editors and ops only their parts, and refuses the rest', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await browserSignIn(page, base, 'editor', await createConsoleUser(app, 'editor'));
    expect(await page.locator('#sending-live').count()).toBe(1);
    expect(await page.locator('#queues-live').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'dashboard-editor-1280.png'), fullPage: true });
    for (const path of [
      '/console/queues',
      '/console/health',
      '/console/keys',
      '/console/suppressions',
    ]) {
      const response = await page.goto(`${base}${path}`);
      expect(response?.status()).toBe(403);
    }
    expect((await page.goto(`${base}/console/outbox`))?.status()).toBe(200);
    await context.clearCookies();

    await browserSignIn(page, base, 'ops', await createConsoleUser(app, 'ops'));
    expect(await page.locator('#queues-live').count()).toBe(1);
    expect(await page.locator('#sending-live').count()).toBe(0);
    expect(await page.textContent('#queues-live .warning-box')).toContain('digests is paused');
    await page.screenshot({ path: join(SHOTS, 'dashboard-ops-1280.png'), fullPage: true });
    expect((await page.goto(`${base}/console/keys`))?.status()).toBe(403);
    await page.goto(`${base}/console/suppressions`);
    expect(await page.locator('text=Remove…').count()).toBe(0);
    await context.close();
  }, 300_000);
});
