// The embedded outbox: each .eml keeps its envelope (Return-Path + X-Original-To written before
// the message, as a delivering server files it), and /console/outbox shows the true total and
// pages through every message.
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import { createOutboxTransport } from '../src/mail/transports/outbox.ts';
import { pageOutbox, readOutboxMessage } from '../src/ops/outbox.ts';
import { signIn } from './helpers/console.ts';
import { createTestTarget, uniqueName } from './helpers/stores.ts';

const RAW =
  'From: Herald <newsletter@herald.localhost>\r\nTo: ana@example.net\r\nSubject: Envelope kept\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n';

describe('outbox envelope', () => {
  it('writes MAIL FROM and RCPT TO in front of the message, readable offline', async () => {
    const outboxDir = mkdtempSync(join(tmpdir(), 'herald-outbox-'));
    try {
      const transport = createOutboxTransport(outboxDir);
      const envelope = {
        from: 'bounces+c7.s42.abcdef@herald.localhost',
        to: ['ana@example.net'],
      };
      const reply = await transport.send({ envelope, raw: RAW, messageId: '<m1@herald>' });
      const [name] = readdirSync(outboxDir);
      expect(reply.response).toContain(name);
      const stored = readFileSync(join(outboxDir, name!), 'utf8');
      expect(
        stored.startsWith(
          'Return-Path: <bounces+c7.s42.abcdef@herald.localhost>\r\nX-Original-To: ana@example.net\r\nFrom: Herald',
        ),
      ).toBe(true);
      expect(stored.endsWith(RAW)).toBe(true);
      const parsed = await simpleParser(stored);
      expect(parsed.subject).toBe('Envelope kept');
      expect(await readOutboxMessage(outboxDir, name!)).toMatchObject({
        subject: 'Envelope kept',
        envelope: {
          from: expect.stringContaining('bounces+c7.s42.abcdef@herald.localhost'),
          to: 'ana@example.net',
        },
      });
    } finally {
      rmSync(outboxDir, { recursive: true, force: true });
    }
  });
});

describe('outbox page', () => {
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  let dispose: () => Promise<void>;
  const TOTAL = 250;

  beforeAll(async () => {
    const target = await createTestTarget('sqlite');
    dispose = target.dispose;
    dataDir = mkdtempSync(join(tmpdir(), 'herald-outbox-page-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('outbox'),
        LOG_LEVEL: 'silent',
      }),
    );
    const transport = createMailTransport(app.config);
    // Names carry the write time; write them as if one second apart, oldest first.
    for (let i = 0; i < TOTAL; i += 1) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
      const name = `${at.toISOString().replace(/[:.]/g, '-')}-m${i}.eml`;
      writeFileSync(join(app.config.outboxDir, name), RAW);
      utimesSync(join(app.config.outboxDir, name), at, at);
    }
    transport.close();
    server = await buildServer(app);
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await dispose?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('pages newest first with the true total', async () => {
    const first = await pageOutbox(app.config.outboxDir, 1, 100);
    expect(first).toMatchObject({ total: TOTAL, page: 1, pages: 3 });
    expect(first.entries[0]!.name).toMatch(/-m249\.eml$/);
    const last = await pageOutbox(app.config.outboxDir, 3, 100);
    expect(last.entries.map((e) => e.name.replace(/^.*-(m\d+)\.eml$/, '$1'))).toEqual(
      Array.from({ length: 50 }, (_, i) => `m${49 - i}`),
    );
    // A page past the end shows the last one.
    expect((await pageOutbox(app.config.outboxDir, 99, 100)).page).toBe(3);
  });

  it('shows the total and links the pages on /console/outbox; /admin/outbox redirects there', async () => {
    const editor = await signIn(server, 'editor');
    const get = (url: string) =>
      server.inject({ method: 'GET', url, headers: { cookie: editor.cookie } });
    const first = await get('/console/outbox');
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('<strong>250</strong> messages in the outbox, newest first');
    expect(first.body).toContain('page 1 of 10');
    expect(first.body).toContain('href="/console/outbox?page=2" rel="next"');
    expect(first.body.match(/<td data-label="Subject">/g)).toHaveLength(25);
    const second = await get('/console/outbox?page=2');
    expect(second.body).toContain('page 2 of 10');
    expect(second.body).toContain('rel="prev"');
    expect(second.body).toContain('-m224.eml');
    const bad = await get('/console/outbox?page=zero');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('page must be a whole number');
    const moved = await get('/admin/outbox?page=2');
    expect(moved.statusCode).toBe(301);
    expect(moved.headers.location).toBe('/console/outbox?page=2');
  });
});
