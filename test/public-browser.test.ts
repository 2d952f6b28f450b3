// A real browser (playwright-core driving Debian chromium, headless) walks the subscriber's
// path: subscribe on the form → confirmation mail at a real SMTP sink → open its link →
// change topics on the preferences page → one-click unsubscribe → out of every audience.

import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { countAudience, readAudiencePage } from '../src/campaigns/audience.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { findSubscriberByEmail } from '../src/subscribers/repository.ts';
import { launchChromium } from './helpers/browser.ts';
import { insertTopics } from './helpers/rows.ts';
import { createTestTarget, uniqueName } from './helpers/stores.ts';

/** Where the screenshots go (look at them: layout bugs do not fail assertions). */
const SCREENS = join(tmpdir(), 'herald-public-screens');

/** Screenshots of the page at phone and desktop widths; asserts nothing overflows sideways. */
async function screens(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENS, { recursive: true });
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: join(SCREENS, `${name}-${width}.png`), fullPage: true });
    // A string: the test code is compiled without DOM types.
    const overflow = (await page.evaluate(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    )) as number;
    expect(overflow, `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
  }
}

/** A host name that is not localhost (browsers treat localhost as secure), mapped to loopback. */
const OTHER_HOST = 'herald.test';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('subscriber journey in chromium (SQLite)', () => {
  const mails: Buffer[] = [];
  let sink: SMTPServer;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let base: string;
  let port: number;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    sink = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push(Buffer.concat(chunks));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const smtpPort = (sink.server.address() as AddressInfo).port;

    port = await freePort();
    base = `http://localhost:${port}`;
    const target = await createTestTarget('sqlite');
    dispose = target.dispose;
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        QUEUE_PREFIX: uniqueName('web'),
        LOG_LEVEL: 'silent',
        HERALD_SECRET: 'browser-test-secret-0123456789-abcdef',
        PUBLIC_URL: base,
        MAIL_FROM: 'Herald News <news@example.org>',
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      }),
    );
    await insertTopics(app.store.db, [
      ['russia-china', 'Russia-China relations'],
      ['economy', 'Economy'],
    ]);
    server = await buildServer(app);
    await server.listen({ port, host: '127.0.0.1' });
    browser = await launchChromium([`--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1`]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await app?.close();
    await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
    await dispose?.();
  });

  it('subscribe → confirm by mail → change topics → one-click unsubscribe → no audience', async () => {
    const context = await browser.newContext({
      timezoneId: 'Asia/Tokyo',
      viewport: { width: 390, height: 844 },
    });
    const page = await context.newPage();

    await page.goto(`${base}/subscribe`);
    // The browser's zone is detected and preselected.
    expect(await page.locator('#timezone').inputValue()).toBe('Asia/Tokyo');
    await page.getByLabel('Email address').fill('walker@example.org');
    await page.getByLabel('Name').fill('Walker');
    await page.getByLabel('Economy').check();
    await page.getByLabel('Weekly digest').check();
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

    const pending = await findSubscriberByEmail(app.store.db, 'walker@example.org');
    expect(pending).toMatchObject({
      status: 'pending',
      topics: ['economy'],
      digest: 'weekly',
      timezone: 'Asia/Tokyo',
    });
    expect(await countAudience(app.store.db, ['economy'])).toBe(0);

    const deadline = Date.now() + 15_000;
    while (mails.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(mails).toHaveLength(1);
    const mail = await simpleParser(mails[0]!);
    expect(mail.to && 'text' in mail.to ? mail.to.text : '').toContain('walker@example.org');
    const link = /http:\/\/localhost:\d+\/confirm\?token=[A-Za-z0-9_.-]+/.exec(
      mail.text ?? '',
    )?.[0];
    expect(link).toBeDefined();

    // The confirmation mail itself at phone width: its long link wraps.
    const mailPage = await context.newPage();
    await mailPage.setContent(String(mail.html));
    await screens(mailPage, 'confirmation-mail');
    await mailPage.close();
    await page.setViewportSize({ width: 390, height: 844 });

    // Opening the link (as a link scanner would) changes nothing; the button confirms.
    await page.goto(link!);
    await page.getByRole('heading', { name: 'Confirm your subscription' }).waitFor();
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.status).toBe(
      'pending',
    );
    await screens(page, 'confirm');
    await page.getByRole('button', { name: 'Confirm my subscription' }).click();
    await page.getByRole('heading', { name: 'You are subscribed' }).waitFor();
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.status).toBe(
      'active',
    );
    expect(await countAudience(app.store.db, ['economy'])).toBe(1);

    await page.getByRole('link', { name: 'Manage your preferences' }).click();
    await page.getByRole('heading', { name: 'Your preferences' }).waitFor();
    const preferencesUrl = page.url();
    // Saving with no topic is refused with a reason, and nothing changes.
    await page.getByRole('checkbox', { name: 'Economy' }).uncheck();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.getByText('choose at least one topic').waitFor();
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.topics).toEqual([
      'economy',
    ]);
    await screens(page, 'preferences-no-topic');
    await page.getByRole('checkbox', { name: 'Economy' }).uncheck();
    await page.getByRole('checkbox', { name: 'Russia-China relations', exact: true }).check();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.getByText('Your preferences are saved.').waitFor();
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.topics).toEqual([
      'russia-china',
    ]);
    expect(await countAudience(app.store.db, ['russia-china'])).toBe(1);
    expect(await countAudience(app.store.db, ['economy'])).toBe(0);

    await page.getByRole('link', { name: 'Unsubscribe from all Herald emails' }).click();
    await page.getByRole('heading', { name: 'Unsubscribe' }).waitFor();
    // Opening the page changed nothing.
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.status).toBe(
      'active',
    );
    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await page.getByRole('heading', { name: 'You are unsubscribed' }).waitFor();

    const after = await findSubscriberByEmail(app.store.db, 'walker@example.org');
    expect(after?.status).toBe('unsubscribed');
    // No further campaign reaches them: they are in no audience, on any topic.
    const audience = await readAudiencePage(app.store.db, ['russia-china', 'economy'], 0, 100);
    expect(audience.members.map((m) => m.subscriberId)).not.toContain(after!.id);
    expect(await countAudience(app.store.db, ['russia-china'])).toBe(0);

    // The preferences page now says so, and offers the way back (an explicit POST).
    await page.goto(preferencesUrl);
    await page.getByRole('heading', { name: 'You are unsubscribed' }).waitFor();
    await screens(page, 'preferences-unsubscribed');
    await page.getByRole('button', { name: 'Subscribe again' }).click();
    await page.getByText('Welcome back: you are subscribed again.').waitFor();
    expect((await findSubscriberByEmail(app.store.db, 'walker@example.org'))?.status).toBe(
      'active',
    );
    expect(await countAudience(app.store.db, ['russia-china'])).toBe(1);
    await context.close();
  }, 90_000);

  it('the subscribe form over plain http on another host name: script, zone names, errors', async () => {
    // Kolkata, not the retired Calcutta that ICU still reports.
    const context = await browser.newContext({ timezoneId: 'Asia/Kolkata' });
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') blocked.push(message.text());
    });
    const response = await page.goto(`http://${OTHER_HOST}:${port}/subscribe`);
    // PUBLIC_URL is http: the CSP must not ask the browser to upgrade our own requests.
    expect(response?.headers()['content-security-policy']).not.toContain(
      'upgrade-insecure-requests',
    );
    expect(await page.locator('#timezone').inputValue()).toBe('Asia/Kolkata');
    const zones = await page.locator('#timezone option').allTextContents();
    expect(zones).toContain('Europe/Kyiv');
    expect(zones).not.toContain('Asia/Calcutta');
    expect(zones).not.toContain('Europe/Kiev');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(
      'Email address: enter your email address',
    );
    await screens(page, 'subscribe-empty-email');
    // Nothing blocked or ignored for being on plain http (the 400 page and favicon 404 aside).
    expect(blocked.filter((text) => !text.startsWith('Failed to load resource'))).toEqual([]);
    await context.close();
  }, 60_000);
});
