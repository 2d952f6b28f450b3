// The editor's day in the console, in headless Chromium against a real Herald (SQLite store,
// Redis queues, workers, an SMTP sink, SEND_RATE so a campaign is still sending when paused):
// sign in → ingest an article by paste → see its topics → create a campaign → preview it as a
// subscriber at 375 px → send a test (it reaches the sink) → schedule it at a local time →
// watch the dashboard → unschedule and send now → pause and resume while it sends → open its
// report, whose counts match `herald campaign status --json` run by the built CLI against
// the same store. A second walk signs in as ops and as an editor and checks what each can and
// cannot reach (nav items, direct URLs → 403). Every step: screenshots at 1280 and 375 px in
// test-results/console/walk-*.png, no CSP error, no serious or critical axe violation.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CampaignStatusReport, getCampaign } from '../src/campaigns/repository.ts';
import { buildServer } from '../src/http/server.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, createConsoleUser } from './helpers/console.ts';
import { seriousViolations, shoot, watchCsp } from './helpers/console-pages.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { FIXTURE_PATH, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const TOPIC = 'russia-china-relations';
const READERS = 60;
const ZONES = ['UTC', 'Europe/Paris', 'Asia/Tokyo', 'America/New_York'];

describe('the console walks', () => {
  let t: TestStore;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let sink: SmtpSink;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await openTestStore('sqlite');
    // 4 messages a second: the campaign takes ~15 s to send, long enough to pause it mid-way.
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        PUBLIC_URL: 'http://127.0.0.1',
        SEND_RATE: '4',
        BATCH_SIZE: '10',
      }),
    );
    const db = herald.app.store.db;
    await ensureCatalogue(db);
    await seedSubscribers(
      db,
      Array.from({ length: READERS }, (_, i) => ({
        email: `reader${i}@example.net`,
        topics: [TOPIC],
        timezone: ZONES[i % ZONES.length]!,
      })),
    );
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

  /** Screenshots at 1280 and 375 px, axe at both, and no CSP error so far. */
  async function step(page: Page, name: string, csp: string[]) {
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: 900 });
      await shoot(page, `walk-${name}-${width}`);
      expect(await seriousViolations(page), `${name} at ${width}`).toEqual([]);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(csp, name).toEqual([]);
  }

  /** `herald campaign status <id> --json` from the built CLI, against the walk's store. */
  async function cliStatus(id: number): Promise<CampaignStatusReport> {
    const { stdout } = await run(
      process.execPath,
      ['bin/herald.js', 'campaign', 'status', String(id), '--json'],
      { cwd: ROOT, env: { ...process.env, ...herald.env, LOG_LEVEL: 'silent' } },
    );
    return JSON.parse(stdout) as CampaignStatusReport;
  }

  it('walks an editor through the day: ingest, campaign, preview, test, schedule, send, pause, resume, report', async () => {
    const db = herald.app.store.db;
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      timezoneId: 'Europe/London',
    });
    const page = await context.newPage();
    const csp = watchCsp(page);
    await browserSignIn(page, base, 'editor', herald.app);
    await step(page, '01-signed-in', csp);

    // Ingest an article by pasting the plain-text fixture.
    await page.goto(`${base}/console/articles/new`);
    await page.fill('#paste-body', readFileSync(FIXTURE_PATH, 'utf8'));
    await step(page, '02-paste', csp);
    await Promise.all([
      page.waitForURL(/\/console\/articles\/\d+/),
      page.click('button:text("Store article")'),
    ]);
    const articleId = Number(/articles\/(\d+)/.exec(page.url())?.[1]);
    expect(articleId).toBeGreaterThan(0);
    // Its topics, as the matcher tagged them.
    await page.getByText('Russia-China relations').first().waitFor();
    await step(page, '03-article-topics', csp);

    // Create a campaign from it.
    await page.goto(`${base}/console/campaigns/new?articleIds=${articleId}`);
    await page.fill('#subject', 'Lavrov in Beijing ahead of Putin’s visit');
    await page.fill('#preheader', 'What the trip means for the Belt and Road forum');
    await page.check(`#topic-${TOPIC}`);
    await page.getByText(`${READERS} subscribers will get it`).waitFor();
    await step(page, '04-new-campaign', csp);
    await Promise.all([
      page.waitForURL(/\/console\/campaigns\/\d+\?done=created$/),
      page.click('button:text("Create draft")'),
    ]);
    const id = Number(/campaigns\/(\d+)/.exec(page.url())?.[1]);
    await step(page, '05-campaign', csp);

    // Preview as a subscriber at 375 px.
    await page.setViewportSize({ width: 375, height: 900 });
    await page.click('a:text("Preview")');
    await page.fill('#preview-as', 'reader7@example.net');
    await page.click('button:text("Show")');
    await page.click('a:text("Phone 375 px")');
    const frame = page.frameLocator('iframe.preview-375');
    await frame.getByText('Russia’s top diplomat Lavrov').first().waitFor();
    expect(await page.getAttribute('iframe.preview-375', 'sandbox')).toBe('');
    await step(page, '06-preview-375', csp);

    // Send a test: it reaches the SMTP sink and is not counted in the campaign.
    await page.goto(`${base}/console/campaigns/${id}`);
    await page.fill('#test-to', 'desk@example.org');
    await page.click('button:text("Send test")');
    await page.getByText('Test sent to desk@example.org').waitFor();
    const test = sink.messages.find((message) => message.to.includes('desk@example.org'));
    expect(test).toBeDefined();
    expect((await sink.parse(test!)).subject).toBe(
      '[Test] Lavrov in Beijing ahead of Putin’s visit',
    );
    await step(page, '07-test-sent', csp);

    // Schedule at 07:00 in each subscriber's own zone.
    await page.fill('#schedule-local', '07:00');
    await Promise.all([
      page.waitForURL(`${base}/console/campaigns/${id}?done=scheduled`),
      page.click('button:text("Schedule at local time")'),
    ]);
    expect(await page.textContent('.schedule-line')).toContain(
      '07:00 in each subscriber’s own zone',
    );
    expect(await getCampaign(db, id)).toMatchObject({ status: 'scheduled', localTime: '07:00' });
    const scheduled = await cliStatus(id);
    expect(scheduled.zones?.map((zone) => zone.zone).sort()).toEqual([...ZONES].sort());
    await step(page, '08-scheduled-local', csp);

    // Watch the dashboard.
    await page.goto(`${base}/console`);
    expect(await page.locator('h1').textContent()).toBe('Dashboard');
    await step(page, '09-dashboard', csp);

    // Change of plan: unschedule and send now (each behind its confirm step).
    await page.goto(`${base}/console/campaigns/${id}`);
    await page.click('a:text("Unschedule…")');
    await step(page, '10-confirm-unschedule', csp);
    await Promise.all([
      page.waitForURL(`${base}/console/campaigns/${id}?done=unschedule`),
      page.click('button:text("Unschedule")'),
    ]);
    await page.click('a:text("Send now…")');
    await Promise.all([
      page.waitForURL(`${base}/console/campaigns/${id}?done=send`),
      page.click('button:text("Send now")'),
    ]);
    // Live progress: the counts move without a reload while it sends.
    await page.locator('#campaign-progress .live-dot').waitFor();
    await expect
      .poll(async () => Number(await page.textContent('[data-count="sent"]')), {
        timeout: 60_000,
        interval: 500,
      })
      .toBeGreaterThan(0);
    await step(page, '11-sending', csp);

    // Pause while it is still sending, then resume.
    await page.click('a:text("Pause…")');
    await Promise.all([
      page.waitForURL(`${base}/console/campaigns/${id}?done=pause`),
      page.click('button:text("Pause")'),
    ]);
    const paused = await cliStatus(id);
    expect(paused.status).toBe('paused');
    expect(paused.sent).toBeLessThan(READERS);
    await step(page, '12-paused', csp);
    await page.click('a:text("Resume…")');
    await Promise.all([
      page.waitForURL(`${base}/console/campaigns/${id}?done=resume`),
      page.click('button:text("Resume")'),
    ]);
    await page.locator('#campaign-progress [data-status="sent"]').waitFor({ timeout: 120_000 });
    await step(page, '13-sent', csp);

    // The report's counts are the CLI's.
    await page.click('a:text("Report")');
    await page.waitForURL(`${base}/console/campaigns/${id}/report`);
    const final = await cliStatus(id);
    expect(final).toMatchObject({ status: 'sent', total: READERS, sent: READERS, pending: 0 });
    for (const key of ['total', 'sent', 'pending', 'failed', 'bounced', 'suppressed'] as const) {
      expect(await page.textContent(`[data-count="${key}"]`), key).toBe(String(final[key]));
    }
    await step(page, '14-report', csp);
    await waitForCampaign(herald.app, id, (report) => report.status === 'sent');
    await context.close();
  }, 600_000);

  it('shows ops and editors only what their role may reach; the rest answers 403', async () => {
    const editorOnly = ['/console/articles', '/console/campaigns', '/console/campaigns/new'];
    const everyone = ['/console'];
    for (const role of ['ops', 'editor'] as const) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const csp = watchCsp(page);
      await browserSignIn(page, base, role, await createConsoleUser(herald.app, role));
      const nav = await page.locator('nav[aria-label=Console] a').allTextContents();
      await step(page, `roles-${role}-dashboard`, csp);
      // The admin's users page answers 403 to both.
      const allowed =
        role === 'ops' ? [...everyone, '/console/queues'] : [...everyone, ...editorOnly];
      const refused = role === 'ops' ? editorOnly : ['/console/queues'];
      if (role === 'ops') {
        expect(nav).toContain('Queues');
        expect(nav).not.toContain('Campaigns');
        expect(nav).not.toContain('Articles');
      } else {
        expect(nav).toContain('Campaigns');
        expect(nav).toContain('Articles');
        expect(nav).not.toContain('Queues');
      }
      expect(nav).not.toContain('Users');
      for (const url of allowed) {
        const response = await page.goto(`${base}${url}`);
        expect(response?.status(), `${role} ${url}`).toBe(200);
      }
      for (const url of [...refused, '/console/users']) {
        const response = await page.goto(`${base}${url}`);
        expect(response?.status(), `${role} ${url}`).toBe(403);
        await page.getByText('not available to your role').waitFor();
      }
      await step(page, `roles-${role}-refused`, csp);
      await context.close();
    }
  }, 300_000);
});
