// The console in a real browser (headless Chromium): sign in at 1280 px and 375 px, the shell's
// nav and menu, no CSP violation (htmx and console.js run under script-src 'self'), axe-core
// finds no serious or critical violation on the login page and the dashboard. Screenshots go
// to test-results/console/ (gitignored) for a person to look at.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, createConsoleUser } from './helpers/console.ts';
import { seriousViolations } from './helpers/console-pages.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const SHOTS = resolve(import.meta.dirname, '../test-results/console');
describe('console shell in Chromium', () => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;
  let dataDir: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await openTestStore('sqlite');
    dataDir = mkdtempSync(join(tmpdir(), 'herald-console-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('consolebrowser'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const width of [1280, 375]) {
    it(`signs in at ${width} px: login page, dashboard shell, no CSP error, no serious axe violation`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const cspErrors: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text()))
          cspErrors.push(message.text());
      });
      await page.goto(`${base}/`);
      expect(new URL(page.url()).pathname).toBe('/console/login');
      await page.screenshot({ path: join(SHOTS, `login-${width}.png`), fullPage: true });
      expect(await seriousViolations(page)).toEqual([]);
      // The public subscribe page shares the stylesheet.
      await page.goto(`${base}/subscribe`);
      expect(
        await page.evaluate('getComputedStyle(document.querySelector("button")).minHeight'),
      ).toBe('44px');
      await page.screenshot({ path: join(SHOTS, `subscribe-${width}.png`), fullPage: true });
      expect(await seriousViolations(page)).toEqual([]);
      await page.goto(`${base}/console/login`);

      // A wrong password: the same page with the message, focus stays usable.
      const user = await createConsoleUser(app, 'editor');
      await page.fill('input[name=email]', user.email);
      await page.fill('input[name=password]', 'not the password at all');
      await page.click('button[type=submit]');
      await page.getByText('do not match an active account').waitFor();
      await page.screenshot({ path: join(SHOTS, `login-error-${width}.png`), fullPage: true });

      await browserSignIn(page, base, 'editor', user);
      expect(await page.locator('h1').textContent()).toBe('Dashboard');
      // htmx loaded from our own origin and configured from the meta tag, not by eval.
      expect(await page.evaluate('typeof htmx === "object" && htmx.config.allowEval')).toBe(false);
      const nav = page.locator('nav[aria-label=Console] a');
      if (width === 375) {
        expect(await nav.first().isVisible()).toBe(false);
        await page.click('.menu-button');
        expect(await page.getAttribute('.menu-button', 'aria-expanded')).toBe('true');
        await page.screenshot({ path: join(SHOTS, `dashboard-menu-${width}.png`), fullPage: true });
        await page.click('.menu-button');
      }
      await page.screenshot({ path: join(SHOTS, `dashboard-${width}.png`), fullPage: true });
      expect(await page.locator('nav[aria-label=Console] a').allTextContents()).toEqual([
        'Dashboard',
        'Articles',
        'Campaigns',
        'Subscribers',
        'Topics',
        'Digests',
        'Outbox',
        'API reference',
      ]);
      expect(await seriousViolations(page)).toEqual([]);
      expect(cspErrors).toEqual([]);

      // An admin's users page: table, form and badges in the shell.
      if (width === 375) await page.click('.menu-button');
      await Promise.all([page.waitForURL(`${base}/console/login`), page.click('text=Sign out')]);
      await browserSignIn(page, base, 'admin', server);
      await page.goto(`${base}/console/users`);
      expect(await page.locator('h1').textContent()).toBe('Users');
      expect(await page.locator('tbody tr').count()).toBeGreaterThan(0);
      await page.screenshot({ path: join(SHOTS, `users-${width}.png`), fullPage: true });
      expect(await seriousViolations(page)).toEqual([]);
      expect(cspErrors).toEqual([]);

      // The API reference: swagger-ui from our own origin renders under its CSP, no report.
      await page.goto(`${base}/console/api/`);
      await page.locator('.swagger-ui .info .title').waitFor();
      await page.locator('.opblock-summary-path', { hasText: '/api/campaigns' }).first().waitFor();
      await page.screenshot({ path: join(SHOTS, `api-reference-${width}.png`), fullPage: true });
      expect(await seriousViolations(page)).toEqual([]);
      expect(cspErrors).toEqual([]);
      await page.goto(`${base}/console/users`);

      // Sign out: back to the login page, and the console asks for sign-in again.
      if (width === 375) await page.click('.menu-button');
      await Promise.all([page.waitForURL(`${base}/console/login`), page.click('text=Sign out')]);
      await page.goto(`${base}/console`);
      expect(new URL(page.url()).pathname).toBe('/console/login');
      await context.close();
    }, 180_000);
  }
});
