// The article and topic pages in headless Chromium at 1280 px and 375 px: the list, the
// ingest page (a paste goes through to the article page), the article beside its topics, the
// topic list and a topic's rules with a rule test. Every page: screenshots in
// test-results/console/, axe-core with no serious or critical violation, no CSP error.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseArticle } from '../src/articles/parse.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { launchChromium } from './helpers/browser.ts';
import { browserSignIn, createConsoleUser } from './helpers/console.ts';
import { seriousViolations } from './helpers/console-pages.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const SHOTS = resolve(import.meta.dirname, '../test-results/console');
const FIXTURES = resolve(import.meta.dirname, 'fixtures/articles');
const LAVROV = readFileSync(
  resolve(import.meta.dirname, 'fixtures/articles/lavrov-china.txt'),
  'utf8',
);
describe('console articles and topics in Chromium', () => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;
  let dataDir: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await openTestStore('sqlite');
    dataDir = mkdtempSync(join(tmpdir(), 'herald-console-articles-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('consolearticlesbrowser'),
        LOG_LEVEL: 'silent',
      }),
    );
    // A newsroom's morning: the test fixtures (every readable one) as stored articles.
    for (const file of readdirSync(FIXTURES).filter((f) => /\.(txt|md|json|html)$/.test(f))) {
      try {
        const article = parseArticle({ body: readFileSync(join(FIXTURES, file)), filename: file });
        await saveArticle(app.store.db, article);
      } catch {
        // Some fixtures are deliberately broken (the parser tests use them).
      }
    }
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
    it(`works at ${width} px: list, ingest by paste, article and topics, rule test; axe clean`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const cspErrors: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text()))
          cspErrors.push(message.text());
      });
      const user = await createConsoleUser(app, 'editor');
      await browserSignIn(page, base, 'editor', user);
      const check = async (name: string) => {
        // From the top: a full-page shot of a scrolled page draws the sticky sidebar mid-page.
        await page.evaluate('window.scrollTo(0, 0)');
        await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
        expect(await seriousViolations(page), name).toEqual([]);
      };

      // The list, reached from the nav.
      if (width === 375) await page.click('.menu-button');
      await page.click('nav[aria-label=Console] >> text=Articles');
      await page.waitForURL(`${base}/console/articles`);
      expect(await page.locator('h1').textContent()).toBe('Articles');
      expect(await page.locator('table.article-table tbody tr').count()).toBeGreaterThan(5);
      await check('articles');

      // Filter by topic: every row carries the chip.
      await page.selectOption('#filter-topic', 'china');
      await Promise.all([
        page.waitForURL(/topic=china/),
        page.getByRole('button', { name: 'Filter' }).click(),
      ]);
      const rows = page.locator('table.article-table tbody tr');
      expect(await rows.count()).toBeGreaterThan(0);
      for (const row of await rows.all()) expect(await row.textContent()).toContain('China');

      // Ingest by paste: lands on the article, beside its topics.
      await page.goto(`${base}/console/articles/new`);
      await check('articles-new');
      await page.selectOption('#paste-format', 'text');
      await page.fill('#paste-body', LAVROV.replace('Lavrov', `Lavrov ${width}`));
      await Promise.all([
        page.waitForURL(/\/console\/articles\/\d+\?ingested=new/),
        page.getByRole('button', { name: 'Store article' }).click(),
      ]);
      expect(await page.locator('.notice-box').textContent()).toContain('Article stored.');
      expect(await page.locator('.topic-explain').textContent()).toMatch(/Lavrov/);
      await check('article');

      // Bad input on the URL form: the reason next to the field.
      await page.goto(`${base}/console/articles/new`);
      await page.fill('#url-input', 'http://127.0.0.1/');
      await Promise.all([
        page.waitForURL(`${base}/console/articles/new/url`),
        page.getByRole('button', { name: 'Fetch and store' }).click(),
      ]);
      expect(await page.locator('#url-error').textContent()).toContain('private address refused');
      await check('articles-new-error');

      // Topics: the list, one topic, and a rule test on a stored article.
      await page.goto(`${base}/console/topics`);
      expect(await page.locator('.topic-card').count()).toBeGreaterThan(5);
      await check('topics');
      await page.click('a[href="/console/topics/russia-china-relations"] >> nth=0');
      await page.waitForURL(`${base}/console/topics/russia-china-relations`);
      await page.check('#source-article');
      const option = await page
        .locator('#test-article option', { hasText: `Lavrov ${width}` })
        .first()
        .getAttribute('value');
      await page.selectOption('#test-article', option!);
      await Promise.all([
        page.waitForURL(/\/test#test-result$/),
        page.getByRole('button', { name: 'Test the rules' }).click(),
      ]);
      expect(await page.locator('.verdict').textContent()).toContain('would be tagged');
      await check('topic');
      expect(cspErrors).toEqual([]);
      await context.close();
    }, 300_000);
  }
});
