// The console's dashboard and ops pages over Fastify inject, on real Redis, SQLite and
// PostgreSQL: the dashboard's sending campaign shows the ledger's counts (as `herald campaign
// status` reports them) and each zone's instant of a local-time send; queue actions pause,
// resume, retry and drain (drain after a confirm page); the outbox lists envelopes with the
// true total; suppressions search by exact address and only admins remove; API keys are
// created (shown once), listed and revoked. Every action: bad input (4xx page, nothing
// changes), a role outside (403), and no CSRF token (403, nothing changes).
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { campaignStatus, createCampaign, moveCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { recordFailureWindow } from '../src/delivery/progress.ts';
import { buildServer } from '../src/http/server.ts';
import { roleOfKey } from '../src/keys/index.ts';
import { findKey } from '../src/keys/list.ts';
import { insertLedgerRows, recordOutcomes } from '../src/ledger/ledger.ts';
import { queueStats } from '../src/ops/queues.ts';
import { createRedis } from '../src/redis/index.ts';
import { applyBounce } from '../src/subscribers/events.ts';
import { addSuppression, findSuppression } from '../src/subscribers/suppressions.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const RAW = (i: number) =>
  [
    'Return-Path: <bounce+c7-s1@news.example.com>',
    `X-Original-To: reader${i}@example.org`,
    'From: Herald <news@example.com>',
    `To: Reader ${i} <reader${i}@example.org>`,
    `Subject: Morning briefing ${i}`,
    'Date: Thu, 01 Jan 2026 07:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Plain body ${i}`,
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<p>HTML body ${i}</p><script>alert(1)</script>`,
    '--b--',
    '',
  ].join('\r\n');

/** The text of the element carrying data-count="name" inside the campaign's card. */
function countIn(html: string, campaignId: number, name: string): string {
  const card = html.split(`data-campaign="${campaignId}"`)[1]?.split('</article>')[0] ?? '';
  const match = new RegExp(`data-count="${name}">([^<]*)<`).exec(card);
  return match?.[1]?.trim() ?? '(missing)';
}

describe.each(DIALECTS)('console ops pages (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  let editor: SignedIn;
  let ops: SignedIn;
  let admin: SignedIn;
  let sendingId: number;
  let scheduledId: number;
  const OUTBOX_TOTAL = 30;

  const workerConnections: Redis[] = [];
  /** A connection for a test worker (BullMQ workers block: maxRetriesPerRequest null). */
  const workerRedis = () => {
    const redis = createRedis(app.config, 'worker');
    workerConnections.push(redis);
    return redis;
  };
  const get = (who: SignedIn | null, url: string) =>
    server.inject({ method: 'GET', url, headers: who ? { cookie: who.cookie } : {} });
  const post = (
    who: SignedIn,
    url: string,
    form: Record<string, string> = {},
    csrf: 'form' | 'none' = 'form',
  ) =>
    server.inject({
      method: 'POST',
      url,
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(
        csrf === 'form' ? { ...form, _csrf: who.csrf } : form,
      ).toString(),
    });

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-console-ops-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('consoleops'),
        MAIL_TRANSPORT: 'outbox',
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    [editor, ops, admin] = [
      await signIn(server, 'editor'),
      await signIn(server, 'ops'),
      await signIn(server, 'admin'),
    ];
    const db = app.store.db;
    const now = new Date().toISOString();
    const article = await seedFixtureArticle(db);
    const topic = article.topics[0]!;
    const ids = await seedSubscribers(
      db,
      Array.from({ length: 12 }, (_, i) => ({
        email: `reader${i}@example.org`,
        topics: [topic],
        timezone: i % 2 === 0 ? 'Europe/London' : 'Asia/Tokyo',
      })),
    );
    // A campaign sending now: 12 rows, 5 sent, 2 failed, 1 bounced (by a report), 4 pending.
    const sending = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], subject: 'Sending now: budget day' }),
      now,
    );
    sendingId = sending.campaign.id;
    await moveCampaign(db, sendingId, ['draft'], 'sending', now, { startedAt: now });
    await insertLedgerRows(
      db,
      sendingId,
      ids.map((subscriberId) => ({ subscriberId })),
      now,
    );
    await recordOutcomes(
      db,
      sendingId,
      [
        ...ids.slice(0, 6).map((subscriberId) => ({
          subscriberId,
          status: 'sent' as const,
          reply: '250 ok',
          attempted: true,
        })),
        ...ids.slice(6, 8).map((subscriberId) => ({
          subscriberId,
          status: 'failed' as const,
          reply: '554 refused',
          attempted: true,
        })),
      ],
      now,
    );
    await applyBounce(db, {
      subscriberId: ids[0]!,
      campaignId: sendingId,
      kind: 'hard',
      reply: '550 5.1.1 no such user',
    });
    await recordFailureWindow(app.redis(), app.config.QUEUE_PREFIX, sendingId, 8, 2, new Date());
    // A local-time campaign scheduled for 07:00 in each subscriber's zone.
    const scheduled = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], subject: 'Weekend edition' }),
      now,
    );
    scheduledId = scheduled.campaign.id;
    await moveCampaign(db, scheduledId, ['draft'], 'scheduled', now, {
      scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      localTime: '07:00',
    });
    // The outbox: 30 messages, written a second apart.
    mkdirSync(app.config.outboxDir, { recursive: true });
    for (let i = 0; i < OUTBOX_TOTAL; i += 1) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
      const name = `${at.toISOString().replace(/[:.]/g, '-')}-m${i}.eml`;
      writeFileSync(join(app.config.outboxDir, name), RAW(i));
      utimesSync(join(app.config.outboxDir, name), at, at);
    }
  }, 60_000);

  afterAll(async () => {
    const queues = await app.queues();
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    for (const redis of workerConnections) redis.disconnect();
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('dashboard', () => {
    it("shows an editor the sending campaign with the ledger's counts, rate and time left", async () => {
      const page = await get(editor, '/console');
      expect(page.statusCode).toBe(200);
      const status = await campaignStatus(app.store.db, sendingId);
      expect(status).toMatchObject({ total: 12, sent: 5, failed: 2, bounced: 1, pending: 4 });
      for (const name of ['sent', 'failed', 'bounced', 'pending'] as const) {
        expect(countIn(page.body, sendingId, name)).toBe(String(status[name]));
      }
      expect(page.body).toContain(
        '66% · 8 of 12 recipients done'.replace('66%', '<strong>66%</strong>'),
      );
      // 8 attempts in the window since the campaign started: a rate and a time left show.
      expect(countIn(page.body, sendingId, 'rate')).toMatch(/^\d[\d,]* \/ min$/);
      expect(countIn(page.body, sendingId, 'left')).toMatch(/\d+ (s|min|h)/);
      expect(page.body).toContain('hx-get="/console/dashboard/sending"');
      expect(page.body).toContain('hx-trigger="every 2s"');
      // Editors see no queue part; the partial is refused to them.
      expect(page.body).not.toContain('Queue health');
      expect((await get(editor, '/console/dashboard/queues')).statusCode).toBe(403);
    });

    it('lists the local-time campaign with each zone instant and the recent bounce', async () => {
      const page = await get(editor, '/console');
      const status = await campaignStatus(app.store.db, scheduledId);
      expect(status.zones?.map((z) => z.zone).sort()).toEqual(['Asia/Tokyo', 'Europe/London']);
      for (const zone of status.zones ?? []) {
        expect(page.body).toContain(
          `<span class="zone-name">${zone.zone}</span> <time datetime="${zone.at}">`,
        );
      }
      expect(page.body).toContain('Weekend edition');
      expect(page.body).toContain('Hard bounce');
      expect(page.body).toContain('550 5.1.1 no such user');
    });

    it('updates the live partial as the ledger moves', async () => {
      const before = await get(editor, '/console/dashboard/sending');
      expect(before.statusCode).toBe(200);
      expect(before.body).not.toContain('<html');
      expect(countIn(before.body, sendingId, 'pending')).toBe('4');
      const pendingRow = await app.store.db
        .selectFrom('deliveries')
        .select('subscriber_id')
        .where('campaign_id', '=', sendingId)
        .where('status', '=', 'pending')
        .executeTakeFirstOrThrow();
      await recordOutcomes(
        app.store.db,
        sendingId,
        [{ subscriberId: pendingRow.subscriber_id, status: 'sent', reply: '250', attempted: true }],
        new Date().toISOString(),
      );
      const after = await get(editor, '/console/dashboard/sending');
      expect(countIn(after.body, sendingId, 'pending')).toBe('3');
      expect(countIn(after.body, sendingId, 'sent')).toBe('6');
    });

    it('shows ops the queue health with a warning for a paused queue, and no campaigns', async () => {
      const queues = await app.queues();
      await queues.digests.pause();
      try {
        const page = await get(ops, '/console');
        expect(page.statusCode).toBe(200);
        expect(page.body).toContain('Queue health');
        expect(page.body).toContain('digests is paused');
        expect(page.body).not.toContain('Sending now: budget day');
        expect((await get(ops, '/console/dashboard/sending')).statusCode).toBe(403);
        const partial = await get(ops, '/console/dashboard/queues');
        expect(partial.statusCode).toBe(200);
        expect(partial.body).toContain('data-queue="deliveries"');
      } finally {
        await queues.digests.resume();
      }
      const adminPage = await get(admin, '/console');
      expect(adminPage.body).toContain('Queue health');
      expect(adminPage.body).toContain('Sending now: budget day');
    });
  });

  describe('queues', () => {
    it('pauses and resumes a queue for ops; refuses editors and posts without CSRF', async () => {
      const queues = await app.queues();
      expect((await get(editor, '/console/queues')).statusCode).toBe(403);
      expect((await post(editor, '/console/queues/feeds/pause')).statusCode).toBe(403);
      expect(await queues.feeds.isPaused()).toBe(false);
      const noCsrf = await post(ops, '/console/queues/feeds/pause', {}, 'none');
      expect(noCsrf.statusCode).toBe(403);
      expect(await queues.feeds.isPaused()).toBe(false);

      const paused = await post(ops, '/console/queues/feeds/pause');
      expect(paused.statusCode).toBe(303);
      expect(await queues.feeds.isPaused()).toBe(true);
      const page = await get(ops, paused.headers.location as string);
      expect(page.body).toContain('Paused feeds');
      expect(page.body).toContain('action="/console/queues/feeds/resume"');
      expect((await post(ops, '/console/queues/feeds/resume')).statusCode).toBe(303);
      expect(await queues.feeds.isPaused()).toBe(false);
      expect(page.body).toContain('href="/admin/queues"');
    });

    it('answers an unknown queue with a 404 page naming the real ones', async () => {
      const response = await post(ops, '/console/queues/nope/pause');
      expect(response.statusCode).toBe(404);
      expect(response.body).toContain('There is no queue named');
      expect(response.body).toContain('deliveries');
    });

    it('drains only after the confirm page, and retries failed jobs', async () => {
      const queues = await app.queues();
      await queues.reconcile.add('one', { n: 1 });
      await queues.reconcile.add('two', { n: 2 });
      await queues.reconcile.add('later', { n: 3 }, { delay: 3_600_000 });
      const confirm = await get(ops, '/console/queues/reconcile/drain');
      expect(confirm.statusCode).toBe(200);
      expect(confirm.body).toContain('action="/console/queues/reconcile/drain"');
      expect(confirm.body).toContain('Also remove the 1 delayed job(s)');
      expect((await post(ops, '/console/queues/reconcile/drain', {}, 'none')).statusCode).toBe(403);
      const bad = await post(ops, '/console/queues/reconcile/drain', { delayed: 'everything' });
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('nothing was removed');
      expect((await queueStats('reconcile', queues.reconcile)).waiting).toBe(2);
      const drained = await post(ops, '/console/queues/reconcile/drain');
      expect(drained.headers.location).toBe('/console/queues?done=drained&queue=reconcile&n=2');
      const after = await queueStats('reconcile', queues.reconcile);
      expect(after).toMatchObject({ waiting: 0, delayed: 1 });

      // A failed job, retried from the console.
      await queues.feeds.add('broken', { n: 1 });
      const worker = new Worker(
        queues.feeds.name,
        async () => {
          throw new Error('boom');
        },
        { connection: workerRedis(), prefix: app.config.QUEUE_PREFIX },
      );
      try {
        for (
          let i = 0;
          i < 100 && (await queues.feeds.getJobCounts('failed')).failed === 0;
          i += 1
        ) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await worker.close();
      }
      expect((await get(ops, '/console')).body).toContain('feeds has 1 failed job');
      const retried = await post(ops, '/console/queues/feeds/retry');
      expect(retried.headers.location).toBe('/console/queues?done=retried&queue=feeds&n=1');
      expect((await queues.feeds.getJobCounts('failed')).failed).toBe(0);
    });
  });

  describe('outbox', () => {
    it('pages with the true total and shows envelopes, for editors and ops', async () => {
      for (const who of [editor, ops]) {
        const page = await get(who, '/console/outbox');
        expect(page.statusCode).toBe(200);
        expect(page.body).toContain('<strong>30</strong> messages in the outbox');
        expect(page.body).toContain('page 1 of 2');
        expect(page.body).toContain('bounce+c7-s1@news.example.com');
        expect(page.body).toContain('reader29@example.org');
        expect(page.body).toContain('Morning briefing 29');
        expect(page.body).not.toContain('Morning briefing 4<');
      }
      const second = await get(editor, '/console/outbox?page=2');
      expect(second.body).toContain('Morning briefing 4<');
      expect(second.body).toContain('rel="prev"');
      const bad = await get(editor, '/console/outbox?page=zero');
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('page must be a whole number');
    });

    it('shows a message with its HTML in a sandboxed frame under its own CSP', async () => {
      const list = await get(ops, '/console/outbox');
      const href = /href="(\/console\/outbox\/[^"?]+\.eml)"/.exec(list.body)?.[1];
      expect(href).toBeDefined();
      const message = await get(ops, href!);
      expect(message.statusCode).toBe(200);
      expect(message.body).toContain(
        '<iframe class="message-frame" title="The message\'s HTML" sandbox',
      );
      const html = await get(ops, `${href}/html`);
      expect(html.headers['content-security-policy']).toMatch(/^sandbox; default-src 'none'/);
      expect(html.body).toContain('HTML body 29');
      expect((await get(ops, `${href}/text`)).body).toContain('Plain body 29');
      expect((await get(ops, `${href}/raw`)).body).toContain('Return-Path:');
      expect((await get(ops, '/console/outbox/nothing.eml')).statusCode).toBe(404);
      const moved = await get(ops, '/admin/outbox?page=2');
      expect(moved.statusCode).toBe(301);
      expect(moved.headers.location).toBe('/console/outbox?page=2');
      expect((await get(null, '/console/outbox')).statusCode).toBe(303);
    });
  });

  describe('suppressions', () => {
    it('finds an address by exact match for ops, with no remove button', async () => {
      await addSuppression(app.store.db, 'Someone.Else@Example.org', 'manual', 'asked by phone');
      const found = await get(ops, '/console/suppressions?email=someone.else%40example.org');
      expect(found.statusCode).toBe(200);
      expect(found.body).toContain('someone.else@example.org');
      expect(found.body).toContain('Added by hand');
      expect(found.body).not.toContain('Remove…');
      const absent = await get(ops, '/console/suppressions?email=nobody%40example.org');
      expect(absent.body).toContain('is not on the suppression list');
      const list = await get(ops, '/console/suppressions');
      expect(list.body).toMatch(/<strong>\d+<\/strong> suppressed address/);
      const bad = await get(ops, '/console/suppressions?email=not-an-address&reason=whim');
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('Address: is not an email address');
      expect(bad.body).toContain('Reason: reason must be one of');
      expect(bad.body).toContain('value="not-an-address"');
      expect((await get(editor, '/console/suppressions')).statusCode).toBe(403);
    });

    it('lets only an admin remove, after a confirm page, with a CSRF token', async () => {
      await addSuppression(app.store.db, 'lift.me@example.org', 'complaint');
      const entry = (await findSuppression(app.store.db, 'lift.me@example.org'))!;
      expect((await get(ops, `/console/suppressions/${entry.id}/remove`)).statusCode).toBe(403);
      expect((await post(ops, `/console/suppressions/${entry.id}/remove`)).statusCode).toBe(403);
      const noCsrf = await post(admin, `/console/suppressions/${entry.id}/remove`, {}, 'none');
      expect(noCsrf.statusCode).toBe(403);
      expect(await findSuppression(app.store.db, 'lift.me@example.org')).not.toBeNull();
      const confirm = await get(admin, `/console/suppressions/${entry.id}/remove`);
      expect(confirm.statusCode).toBe(200);
      expect(confirm.body).toContain('lift.me@example.org');
      const removed = await post(admin, `/console/suppressions/${entry.id}/remove`);
      expect(removed.statusCode).toBe(303);
      expect(await findSuppression(app.store.db, 'lift.me@example.org')).toBeNull();
      expect((await post(admin, `/console/suppressions/${entry.id}/remove`)).statusCode).toBe(404);
      expect((await get(admin, '/console/suppressions/abc/remove')).statusCode).toBe(404);
    });
  });

  describe('health', () => {
    it('shows each check with its time and the workers each queue sees', async () => {
      const queues = await app.queues();
      const worker = new Worker(queues.digests.name, async () => undefined, {
        connection: workerRedis(),
        prefix: app.config.QUEUE_PREFIX,
      });
      await worker.waitUntilReady();
      try {
        const page = await get(ops, '/console/health');
        expect(page.statusCode).toBe(200);
        for (const check of ['Redis', 'Store', 'Mail transport']) {
          expect(page.body).toMatch(
            new RegExp(`data-check="${check}">[\\s\\S]*?badge-ok[\\s\\S]*?\\d+ ms`),
          );
        }
        expect(page.body).toContain('All systems ready');
        const digestsRow = page.body.split('data-queue="digests"')[1]?.split('</tr>')[0] ?? '';
        expect(digestsRow).toMatch(/class="num">1</);
      } finally {
        await worker.close();
      }
      expect((await get(editor, '/console/health')).statusCode).toBe(403);
    });
  });

  describe('keys', () => {
    it('creates a key shown once, lists and revokes it after a confirm; admin only', async () => {
      expect((await get(ops, '/console/keys')).statusCode).toBe(403);
      expect((await get(editor, '/console/keys')).statusCode).toBe(403);
      expect((await post(ops, '/console/keys', { role: 'ops' })).statusCode).toBe(403);
      const before = await app.store.db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      expect((await post(admin, '/console/keys', { role: 'ops' }, 'none')).statusCode).toBe(403);
      const bad = await post(admin, '/console/keys', { role: 'root', label: 'x'.repeat(150) });
      expect(bad.statusCode).toBe(422);
      expect(bad.body).toContain('Role: choose one of editor, ops, admin');
      expect(bad.body).toContain('Label: keep the label under 100 characters');
      const after = await app.store.db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));

      const created = await post(admin, '/console/keys', { role: 'ops', label: 'Nightly export' });
      expect(created.statusCode).toBe(201);
      const key = /id="new-key" class="key-value" type="text" readonly value="([^"]+)"/.exec(
        created.body,
      )?.[1];
      expect(key).toMatch(/^hk_ops_/);
      expect(await roleOfKey(app.store.db, key!)).toBe('ops');
      const list = await get(admin, '/console/keys');
      expect(list.body).toContain('Nightly export');
      expect(list.body).not.toContain(key!);
      const id = Number(
        /href="\/console\/keys\/(\d+)\/revoke" aria-label="Revoke Nightly export"/.exec(
          list.body,
        )?.[1],
      );
      expect((await post(admin, `/console/keys/${id}/revoke`, {}, 'none')).statusCode).toBe(403);
      expect(await roleOfKey(app.store.db, key!)).toBe('ops');
      expect((await get(admin, `/console/keys/${id}/revoke`)).body).toContain('Revoke the key');
      const revoked = await post(admin, `/console/keys/${id}/revoke`);
      expect(revoked.statusCode).toBe(303);
      expect(await roleOfKey(app.store.db, key!)).toBeNull();
      expect((await findKey(app.store.db, id))?.revokedAt).not.toBeNull();
      expect((await post(admin, `/console/keys/${id}/revoke`)).statusCode).toBe(404);
      const badList = await get(admin, '/console/keys?revoked=maybe');
      expect(badList.statusCode).toBe(400);
      expect(badList.body).toContain('revoked must be true or false');
    });
  });

  it('answers malformed input on every ops page with a 4xx or a page, never a 5xx, changing nothing', async () => {
    const mine = /^\/console(\/(dashboard|queues|outbox|suppressions|health|keys)(\/|$)|$)/;
    const routes = server.routeCatalogue
      .filter((route) => mine.test(route.url))
      .flatMap((route) =>
        route.method.filter((m) => m !== 'HEAD').map((method) => ({ method, url: route.url })),
      );
    expect(routes.length).toBeGreaterThanOrEqual(20);
    // No id that exists: a well-formed post to a real entry would rightly change it.
    const params = [
      '999999',
      '0',
      '-1',
      '99999999999999999999',
      '%00',
      '..%2F..%2Fetc',
      'é'.repeat(300),
      'x.eml',
    ];
    const queries = [
      '',
      '?page=-1',
      '?page=1e9',
      '?page[]=1',
      '?email=%00',
      `?email=${'a'.repeat(400)}`,
      '?reason=__proto__',
      '?cursor=!!',
      '?limit=1000',
      '?revoked=1&role=god',
      '?done=drained&queue=nope&n=x',
    ];
    const bodies: Array<string | undefined> = [
      undefined,
      '',
      'role=admin&role=ops',
      `label=${'x'.repeat(70_000)}`,
      'delayed[]=on',
      '_csrf=wrong',
    ];
    const keysBefore = await app.store.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const failures: string[] = [];
    let sent = 0;
    for (const route of routes) {
      for (const param of params) {
        const path = route.url.replace(/:[A-Za-z]+/g, param);
        const sends =
          route.method === 'GET'
            ? queries.map((query) => ({
                url: path + query,
                payload: undefined as string | undefined,
              }))
            : bodies.map((payload) => ({ url: path, payload }));
        for (const attempt of sends) {
          const response = await server.inject({
            method: route.method as 'GET',
            url: attempt.url,
            headers: {
              cookie: admin.cookie,
              // A post here carries the token unless the fuzz body brings a wrong one.
              ...(attempt.payload?.startsWith('_csrf=') ? {} : { 'x-csrf-token': admin.csrf }),
              ...(attempt.payload === undefined
                ? {}
                : { 'content-type': 'application/x-www-form-urlencoded' }),
            },
            ...(attempt.payload === undefined ? {} : { payload: attempt.payload }),
          });
          sent += 1;
          if (response.statusCode >= 500) {
            failures.push(`${route.method} ${attempt.url.slice(0, 80)}: ${response.statusCode}`);
          }
        }
      }
    }
    expect(sent).toBeGreaterThan(300);
    expect(failures).toEqual([]);
    // 'role=admin&role=ops' is an array, not a role: no key was created by the fuzz.
    const keysAfter = await app.store.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(keysAfter.n)).toBe(Number(keysBefore.n));
  }, 120_000);

  it('offers each role only its pages in the nav', async () => {
    const navOf = (html: string) =>
      [...html.matchAll(/<li><a href="(\/console[^"]*)"/g)].map((m) => m[1]);
    const editorNav = navOf((await get(editor, '/console')).body);
    expect(editorNav).toContain('/console/outbox');
    for (const hidden of [
      '/console/queues',
      '/console/health',
      '/console/keys',
      '/console/suppressions',
    ]) {
      expect(editorNav).not.toContain(hidden);
    }
    const opsNav = navOf((await get(ops, '/console')).body);
    for (const shown of [
      '/console/queues',
      '/console/health',
      '/console/outbox',
      '/console/suppressions',
    ]) {
      expect(opsNav).toContain(shown);
    }
    expect(opsNav).not.toContain('/console/keys');
    expect(navOf((await get(admin, '/console')).body)).toContain('/console/keys');
  });
});
