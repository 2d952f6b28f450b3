// The queue dashboard in a real browser (headless Chromium): it loads for a signed-in ops user
// (console sign-in at /console/login) and not without one.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, type ConsoleCredentials, createConsoleUser } from './helpers/console.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

describe.each(DIALECTS)('queue dashboard in Chromium (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let queues: Queues;
  let base: string;
  let dataDir: string;
  let opsUser: ConsoleCredentials;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-dash-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('opsdash'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    queues = openQueues(app);
    await queues.deliveries.add('batch', { campaignId: 3, to: 'someone.private@example.com' });
    opsUser = await createConsoleUser(app, 'ops');
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads for a signed-in ops user, lists every queue, shows no address', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await browserSignIn(page, base, 'ops', opsUser);
    const cspErrors: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspErrors.push(message.text());
    });
    const response = await page.goto(`${base}/admin/queues`);
    expect(response?.status()).toBe(200);
    for (const name of ['campaigns', 'deliveries', 'reconcile', 'digests']) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
    }
    // Open the deliveries queue's waiting jobs: the job is there, its address is not.
    await page.goto(`${base}/admin/queues/queue/deliveries?status=waiting`);
    await page.getByText('[redacted email]').first().waitFor({ timeout: 20_000 });
    const html = await page.content();
    expect(html).not.toContain('someone.private@example.com');
    expect(cspErrors).toEqual([]);
    await context.close();
  });

  it('does not load signed out: the browser lands on the sign-in form, then signs in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.title()).toBe('Sign in · Herald console');
    expect(await page.getByText('deliveries', { exact: true }).count()).toBe(0);
    const api = await page.request.get(`${base}/admin/queues/api/queues`, { maxRedirects: 0 });
    expect(api.status()).toBe(303);

    await browserSignIn(page, base, 'ops', opsUser);
    await page.goto(`${base}/admin/queues`);
    await page.getByText('deliveries', { exact: true }).first().waitFor({ timeout: 20_000 });
    const cookies = await context.cookies();
    const cookie = cookies.find((c) => c.name === 'herald_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', secure: false });
    await context.close();
  });

  it('refuses an editor with 403, and shows the editor the outbox instead', async () => {
    mkdirSync(app.config.outboxDir, { recursive: true });
    writeFileSync(
      join(app.config.outboxDir, '2026-01-01T00-00-00-000Z-m1.eml'),
      'From: a@herald.localhost\r\nTo: r@example.com\r\nSubject: Hello outbox\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<h1>Rendered body</h1><script>document.title="pwned"</script>',
    );
    const context = await browser.newContext();
    const page = await context.newPage();
    await browserSignIn(page, base, 'editor', server);
    const response = await page.goto(`${base}/admin/queues`);
    expect(response?.status()).toBe(403);
    await page.goto(`${base}/admin/outbox`);
    await page.getByText('2026-01-01T00-00-00-000Z-m1.eml').waitFor();
    await page.click('text=HTML');
    await page.getByText('Rendered body').waitFor();
    // The message's HTML runs sandboxed: its script did not run.
    expect(await page.title()).not.toBe('pwned');
    await page.goto(`${base}/admin/outbox/2026-01-01T00-00-00-000Z-m1.eml/raw`);
    expect(await page.textContent('body')).toContain('Subject: Hello outbox');
    await context.close();
  });
});
