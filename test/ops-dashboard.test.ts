// The queue dashboard in a real browser (headless Chromium): it loads for an ops key (sent as
// a header, or kept in the console cookie after /admin/login) and not without one.
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
import { createApiKey } from '../src/keys/index.ts';
import { launchChromium } from './helpers/browser.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

describe.each(DIALECTS)('queue dashboard in Chromium (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let queues: Queues;
  let base: string;
  let dataDir: string;
  let opsKey: string;
  let editorKey: string;

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
    opsKey = (await createApiKey(app.store.db, 'ops')).key;
    editorKey = (await createApiKey(app.store.db, 'editor')).key;
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

  it('loads for an ops key sent as a header, lists every queue, shows no address', async () => {
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${opsKey}` },
    });
    const page = await context.newPage();
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

  it('does not load without a key: the browser lands on the login form, then signs in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    expect(await page.title()).toBe('Herald console login');
    expect(await page.getByText('deliveries', { exact: true }).count()).toBe(0);
    const api = await page.request.get(`${base}/admin/queues/api/queues`);
    expect(api.status()).toBe(401);

    await page.fill('input[name=key]', opsKey);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin/queues`);
    await page.getByText('deliveries', { exact: true }).first().waitFor({ timeout: 20_000 });
    const cookies = await context.cookies();
    const cookie = cookies.find((c) => c.name === 'herald_console_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' });
    await context.close();
  });

  it('refuses an editor key with 403, and shows the editor the outbox instead', async () => {
    mkdirSync(app.config.outboxDir, { recursive: true });
    writeFileSync(
      join(app.config.outboxDir, '2026-01-01T00-00-00-000Z-m1.eml'),
      'From: a@herald.localhost\r\nTo: r@example.com\r\nSubject: Hello outbox\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<h1>Rendered body</h1><script>document.title="pwned"</script>',
    );
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${editorKey}` },
    });
    const page = await context.newPage();
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
