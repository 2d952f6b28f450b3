// The campaign pages in headless Chromium at 1280 px and 375 px: create a campaign through the
// form (article search, live length advice and audience size by htmx), the campaign page (the
// zone picker starts at the browser's zone), the preview (sandboxed iframe, phone width, text),
// the confirm step, live progress while workers send to an SMTP sink, and the report. Each page:
// a screenshot in test-results/console/campaigns-*-<width>.png, no CSP error, no serious or
// critical axe-core violation.
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countAudience } from '../src/campaigns/audience.ts';
import { campaignStatus } from '../src/campaigns/repository.ts';
import { buildServer } from '../src/http/server.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, createConsoleUser } from './helpers/console.ts';
import { seriousViolations, shoot, watchCsp } from './helpers/console-pages.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

const TOPIC = 'russia-china-relations';

describe('campaign pages in Chromium', () => {
  let t: TestStore;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let sink: SmtpSink;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    sink = await startSmtpSink({
      rcptReply: (address) => (address.startsWith('gone') ? 550 : undefined),
    });
    t = await openTestStore('sqlite');
    herald = await startHerald(
      testEnv(t.databaseUrl, { SMTP_URL: sink.url, PUBLIC_URL: 'http://127.0.0.1' }),
    );
    const db = herald.app.store.db;
    await seedFixtureArticle(db);
    await seedSubscribers(db, [
      { email: 'ana@example.net', name: 'Ana', topics: [TOPIC] },
      { email: 'bo@example.net', topics: [TOPIC, 'climate'], timezone: 'Asia/Tokyo' },
      { email: 'gone@example.net', topics: [TOPIC] },
      ...Array.from({ length: 40 }, (_, i) => ({
        email: `reader${i}@example.net`,
        topics: [TOPIC],
      })),
    ]);
    server = await buildServer(herald.app);
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await herald?.close();
    await t?.dispose();
    await sink?.close();
  });

  async function check(page: Page, name: string, cspErrors: string[]) {
    await shoot(page, name);
    expect(await seriousViolations(page), name).toEqual([]);
    expect(cspErrors, name).toEqual([]);
  }

  for (const width of [1280, 375]) {
    it(`creates, previews, sends and reports a campaign at ${width} px`, async () => {
      const context = await browser.newContext({
        viewport: { width, height: 900 },
        timezoneId: 'Europe/Paris',
      });
      const page = await context.newPage();
      const csp = watchCsp(page);
      const user = await createConsoleUser(herald.app, 'editor');
      await browserSignIn(page, base, 'editor', user);

      await page.goto(`${base}/console/campaigns`);
      await check(page, `campaigns-list-${width}`, csp);

      await page.click('text=New campaign');
      await page.waitForURL(`${base}/console/campaigns/new`);
      // Live search narrows the article choices (htmx), keeping the page.
      await page.fill('#article-q', 'Lavrov');
      await page.locator('#article-choices .article-choice').first().waitFor();
      await page.locator('#article-choices input[name=articleIds]').first().check();
      const long = 'Lavrov in Beijing: what the visit means for the Power of Siberia 2 gas deal';
      await page.fill('#subject', long);
      await page.locator('#subject-advice.length-warn').waitFor();
      expect(await page.textContent('#subject-advice')).toContain('inboxes often cut subjects');
      await page.fill('#preheader', 'Five things to know before markets open');
      // The audience changes between the two runs: the first run's bounce suppresses an address.
      const audience = await countAudience(herald.app.store.db, [TOPIC]);
      await page.check(`#topic-${TOPIC}`);
      await page.getByText(`${audience} subscribers will get it`).waitFor();
      await check(page, `campaigns-new-${width}`, csp);
      await Promise.all([
        page.waitForURL(/\/console\/campaigns\/\d+\?done=created$/),
        page.click('button:text("Create draft")'),
      ]);
      const id = Number(/campaigns\/(\d+)/.exec(page.url())?.[1]);
      // The zone picker starts at the browser's zone.
      expect(await page.inputValue('#schedule-zone')).toBe('Europe/Paris');
      await check(page, `campaigns-detail-${width}`, csp);

      await page.click('a:text("Preview")');
      await page.locator('iframe.preview-frame').waitFor();
      expect(await page.getAttribute('iframe.preview-frame', 'sandbox')).toBe('');
      const frame = page.frameLocator('iframe.preview-frame');
      await frame.locator('text=Lavrov').first().waitFor();
      await check(page, `campaigns-preview-${width}`, csp);
      await page.click('a:text("Phone 375 px")');
      await page.locator('iframe.preview-375').waitFor();
      await page.frameLocator('iframe.preview-375').locator('text=Lavrov').first().waitFor();
      await shoot(page, `campaigns-preview-phone-${width}`);
      await page.click('a:text("Text")');
      await page.locator('pre.preview-text').waitFor();
      await check(page, `campaigns-preview-text-${width}`, csp);

      await page.goto(`${base}/console/campaigns/${id}`);
      await page.click('a:text("Send now…")');
      await page.waitForURL(`${base}/console/campaigns/${id}/confirm/send`);
      await check(page, `campaigns-confirm-${width}`, csp);
      await Promise.all([
        page.waitForURL(`${base}/console/campaigns/${id}?done=send`),
        page.click('button:text("Send now")'),
      ]);
      // Live progress: the block polls itself until the campaign is sent.
      await page.locator('#campaign-progress [data-status="sent"]').waitFor({ timeout: 60_000 });
      await check(page, `campaigns-detail-sent-${width}`, csp);

      await page.click('a:text("Report")');
      await page.waitForURL(`${base}/console/campaigns/${id}/report`);
      const status = await campaignStatus(herald.app.store.db, id);
      // gone@ bounces on the first run and has left the audience by the second.
      expect(status).toMatchObject(
        width === 1280
          ? { total: 43, sent: 42, bounced: 1, pending: 0 }
          : { total: 42, sent: 42, bounced: 0, pending: 0 },
      );
      expect(await page.textContent('[data-count="sent"]')).toBe(String(status.sent));
      for (const key of ['total', 'bounced', 'suppressed', 'failed', 'pending'] as const) {
        expect(await page.textContent(`[data-count="${key}"]`)).toBe(String(status[key]));
      }
      await check(page, `campaigns-report-${width}`, csp);

      await page.goto(`${base}/console/campaigns`);
      await page.getByRole('link', { name: long }).first().waitFor();
      await check(page, `campaigns-list-filled-${width}`, csp);
      await context.close();
      await waitForCampaign(herald.app, id, (r) => r.status === 'sent');
    }, 400_000);
  }
});
