// The list endpoints the console stands on (GET /api/articles, campaigns, subscribers, topics,
// keys), on both dialects, through the HTTP server: paging walks every row once in a stable
// order, filters and search keep exactly the rows they should, bad input is a 400 naming the
// field, and the roles hold (401 without a key, 403 for the wrong role).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { campaignStatus } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey, revokeApiKey } from '../src/keys/index.ts';
import { insertLedgerRows, recordOutcomes } from '../src/ledger/ledger.ts';
import { encodeCursor } from '../src/store/paging.ts';
import { upsertSubscriber } from '../src/subscribers/repository.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const NAMES = ['Priya Shah', 'Olu Okafor', 'Ana Müller', 'Sven Okafor', null];
const STATUSES = ['active', 'active', 'active', 'pending'] as const;

/** An ISO instant `minutes` after a fixed start (rows get distinct and tied times on purpose). */
const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * 60_000).toISOString();

describe.each(DIALECTS)('console lists (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  const keys: Record<'editor' | 'ops' | 'admin', string> = { editor: '', ops: '', admin: '' };
  let campaignIds: number[] = [];

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-lists-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('lists'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    for (const role of ['editor', 'ops', 'admin'] as const) {
      keys[role] = (await createApiKey(app.store.db, role, `lists ${role}`)).key;
    }
    const db = app.store.db;
    // 43 subscribers: upsertSubscriber stamps them with the clock, so many share a created_at
    // and the id must break the tie; every 4th is pending; topics alternate.
    for (let i = 0; i < 43; i++) {
      const { id } = await upsertSubscriber(db, {
        email: i === 7 ? 'Priya.Shah@Example.NET' : `reader${i}@example.org`,
        name: NAMES[i % NAMES.length],
        topics: i % 3 === 0 ? ['china', 'russia'] : ['climate'],
        status: STATUSES[i % STATUSES.length] === 'pending' ? 'pending' : 'active',
      });
      if (i % 11 === 10) {
        await db
          .updateTable('subscribers')
          .set({ status: 'bounced' })
          .where('id', '=', id)
          .execute();
      }
    }
    // 31 articles, two by two at the same ingest time; every 3rd without a published time.
    for (let i = 0; i < 31; i++) {
      const { id } = await db
        .insertInto('articles')
        .values({
          url: `https://news.example.org/${i}`,
          content_hash: `hash-${i}`,
          title:
            i === 4 ? 'Lavrov in Beijing' : `Story ${i} about ${i % 2 === 0 ? 'China' : 'climate'}`,
          standfirst: i === 9 ? 'A LAVROV visit, in short' : null,
          paragraphs: '["Text."]',
          source: 'AFP',
          published_at: i % 3 === 0 ? null : at(i * 1440 - 60),
          created_at: at(Math.floor(i / 2) * 1440),
          updated_at: at(i * 1440),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .insertInto('article_topics')
        .values({ article_id: id, topic_id: i % 2 === 0 ? 'china' : 'climate', score: 0.9 })
        .execute();
    }
    // 27 campaigns; the ledger of three of them filled with mixed outcomes.
    campaignIds = [];
    for (let i = 0; i < 27; i++) {
      const { id } = await db
        .insertInto('campaigns')
        .values({
          kind: i % 9 === 0 ? 'digest' : 'campaign',
          subject: i === 5 ? 'Morning BRIEFING: Ukraine' : `Issue ${i}`,
          template: 'alert',
          article_ids: '[1]',
          audience_topics: '["china"]',
          status: i % 4 === 0 ? 'sent' : i % 4 === 1 ? 'draft' : 'scheduled',
          created_at: at(Math.floor(i / 3) * 60),
          updated_at: at(i * 60),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      campaignIds.push(id);
    }
    const subscriberIds = (await db.selectFrom('subscribers').select('id').execute()).map(
      (row) => row.id,
    );
    for (const campaignId of campaignIds.slice(-3)) {
      await insertLedgerRows(
        db,
        campaignId,
        subscriberIds.map((subscriberId) => ({ subscriberId })),
        at(0),
      );
      await recordOutcomes(
        db,
        campaignId,
        subscriberIds.slice(0, 20).map((subscriberId, i) => ({
          subscriberId,
          status: i % 5 === 0 ? 'bounced' : i % 7 === 0 ? 'failed' : 'sent',
          reply: null,
          attempted: true,
        })),
        at(1),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function get(url: string, role: 'editor' | 'ops' | 'admin' | 'none' = 'editor') {
    const response = await server.inject({
      method: 'GET',
      url,
      headers: role === 'none' ? {} : { authorization: `Bearer ${keys[role]}` },
    });
    return { status: response.statusCode, body: response.json() };
  }

  /** Follows `next` from the first page to the last; returns every item in the order seen. */
  async function walk(base: string, limit: number): Promise<Array<Record<string, unknown>>> {
    const seen: Array<Record<string, unknown>> = [];
    let next: string | null = null;
    const sep = base.includes('?') ? '&' : '?';
    for (let pages = 0; pages < 100; pages++) {
      const page = await get(
        `${base}${sep}limit=${limit}${next ? `&cursor=${encodeURIComponent(next)}` : ''}`,
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.body.items);
      next = page.body.next;
      if (next === null) return seen;
    }
    throw new Error(`${base}: more than 100 pages`);
  }

  /** Ids newest first by (createdAt, id), as every list promises. */
  function newestFirst(rows: Array<{ id: number; createdAt: string }>): number[] {
    return [...rows]
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id)
      .map((row) => row.id);
  }

  it('walks every subscriber once, newest first with ids breaking ties, total on each page', async () => {
    const all = await walk('/api/subscribers', 6);
    const ids = all.map((item) => item.id as number);
    expect(new Set(ids).size).toBe(43);
    expect(ids).toEqual(newestFirst(all as Array<{ id: number; createdAt: string }>));
    const first = await get('/api/subscribers?limit=6');
    expect(first.body.total).toBe(43);
    // The shape the console reads.
    expect(Object.keys(first.body.items[0]).sort()).toEqual(
      ['createdAt', 'digest', 'email', 'id', 'name', 'status', 'timezone', 'topics'].sort(),
    );
  });

  it('filters subscribers by status and topic, and pages the filtered list whole', async () => {
    const db = app.store.db;
    const bounced = await db
      .selectFrom('subscribers')
      .select('id')
      .where('status', '=', 'bounced')
      .execute();
    expect(bounced.length).toBeGreaterThan(0);
    const listed = await walk('/api/subscribers?status=bounced', 2);
    expect(listed.map((s) => s.id).sort()).toEqual(bounced.map((s) => s.id).sort());
    expect(listed.every((s) => s.status === 'bounced')).toBe(true);

    const china = await walk('/api/subscribers?topic=china', 4);
    expect(china.length).toBe(15); // i % 3 === 0 for i in 0..42
    expect(china.every((s) => (s.topics as string[]).includes('china'))).toBe(true);
    const chinaPending = await get('/api/subscribers?topic=china&status=pending&limit=100');
    expect(chinaPending.body.total).toBe(chinaPending.body.items.length);
    expect(
      chinaPending.body.items.every(
        (s: { status: string; topics: string[] }) =>
          s.status === 'pending' && s.topics.includes('china'),
      ),
    ).toBe(true);
    expect((await get('/api/subscribers?topic=china&limit=1')).body.total).toBe(15);
  });

  it('finds subscribers by address (exact in any case, or its start) and by part of a name', async () => {
    const exact = await get(`/api/subscribers?q=${encodeURIComponent('priya.shah@EXAMPLE.net')}`);
    expect(exact.body.items.map((s: { email: string }) => s.email)).toEqual([
      'Priya.Shah@example.net',
    ]);
    expect(exact.body.total).toBe(1);
    const prefix = await get('/api/subscribers?q=PRIYA.S&limit=100');
    expect(prefix.body.items.map((s: { email: string }) => s.email)).toContain(
      'Priya.Shah@example.net',
    );
    // reader1, reader10..reader19: an address prefix, not a substring (xreader1 would not count).
    const readers = await get('/api/subscribers?q=reader1&limit=100');
    expect(readers.body.items.map((s: { email: string }) => s.email).sort()).toEqual(
      ['reader1', ...Array.from({ length: 10 }, (_, i) => `reader1${i}`)]
        .map((local) => `${local}@example.org`)
        .sort(),
    );
    // "okafor" is in two names, in any case; the middle of an address does not match.
    const okafor = await walk('/api/subscribers?q=OKAFOR', 3);
    expect(okafor.length).toBeGreaterThan(0);
    expect(okafor.every((s) => /okafor/i.test(String(s.name)))).toBe(true);
    const expected = await app.store.db
      .selectFrom('subscribers')
      .select('id')
      .where('name', 'like', '%Okafor%')
      .execute();
    expect(okafor.length).toBe(expected.length);
    expect((await get('/api/subscribers?q=example.org')).body.total).toBe(0);
    // LIKE wildcards in the text match themselves only.
    expect((await get('/api/subscribers?q=%25')).body.total).toBe(0);
    expect((await get('/api/subscribers?q=_')).body.total).toBe(0);
  });

  it('walks every article once, filters by text, topic and published time', async () => {
    const all = await walk('/api/articles', 4);
    expect(all.length).toBe(31);
    expect(all.map((a) => a.id)).toEqual(
      newestFirst(all as Array<{ id: number; createdAt: string }>),
    );
    expect(all[0]).toMatchObject({ source: 'AFP', topics: expect.any(Array) });

    const lavrov = await get('/api/articles?q=lavrov');
    expect(lavrov.body.items.map((a: { title: string }) => a.title).sort()).toEqual(
      ['Lavrov in Beijing', 'Story 9 about climate'].sort(),
    );
    const climate = await walk('/api/articles?topic=climate', 5);
    expect(climate.length).toBe(15);
    expect(climate.every((a) => (a.topics as string[])[0] === 'climate')).toBe(true);

    // Published (or ingested) on 2026-01-05 to 2026-01-10, whole days.
    const window = await walk('/api/articles?from=2026-01-05&to=2026-01-10', 3);
    const expected = await app.store.db
      .selectFrom('articles')
      .select(['id', 'published_at', 'created_at'])
      .execute();
    const inWindow = expected.filter((a) => {
      const when = a.published_at ?? a.created_at;
      return when >= '2026-01-05T00:00:00.000Z' && when < '2026-01-11T00:00:00.000Z';
    });
    expect(window.map((a) => a.id).sort()).toEqual(inWindow.map((a) => a.id).sort());
    expect(window.length).toBeGreaterThan(2);
    const instant = await get(
      '/api/articles?from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00%2B01:00&limit=100',
    );
    expect(instant.status).toBe(200);
  });

  it('walks every campaign once with its ledger counts, filters by status and subject', async () => {
    const all = await walk('/api/campaigns', 5);
    expect(all.length).toBe(27);
    expect(all.map((c) => c.id)).toEqual(
      newestFirst(all as Array<{ id: number; createdAt: string }>),
    );
    for (const id of campaignIds.slice(-3)) {
      const listed = all.find((c) => c.id === id)!;
      const status = await campaignStatus(app.store.db, id);
      expect(listed.counts).toEqual({
        total: status.total,
        sent: status.sent,
        failed: status.failed,
        bounced: status.bounced,
        suppressed: status.suppressed,
        pending: status.pending,
      });
      expect(status.total).toBe(43);
      expect(status.sent).toBeGreaterThan(0);
    }
    expect(all.find((c) => c.id === campaignIds[0])!.counts).toMatchObject({ total: 0 });

    const sent = await walk('/api/campaigns?status=sent', 2);
    expect(sent.length).toBe(7);
    expect(sent.every((c) => c.status === 'sent')).toBe(true);
    const briefing = await get('/api/campaigns?q=briefing');
    expect(briefing.body.items.map((c: { subject: string }) => c.subject)).toEqual([
      'Morning BRIEFING: Ukraine',
    ]);
    const digests = await get('/api/campaigns?kind=digest');
    expect(digests.body.total).toBe(3);
  });

  it('lists topics with active followers, last article date and 3 recent articles', async () => {
    const { status, body } = await get('/api/topics');
    expect(status).toBe(200);
    const china = body.items.find((topic: { id: string }) => topic.id === 'china');
    const db = app.store.db;
    const active = await db
      .selectFrom('subscriptions')
      .innerJoin('subscribers', 'subscribers.id', 'subscriptions.subscriber_id')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('subscriptions.topic_id', '=', 'china')
      .where('subscribers.status', '=', 'active')
      .executeTakeFirstOrThrow();
    expect(china.followers).toBe(Number(active.n));
    expect(china.followers).toBeLessThan(15); // some china followers are pending or bounced
    expect(china.recentArticles).toHaveLength(3);
    const times = china.recentArticles.map((a: { at: string }) => a.at);
    expect(times).toEqual([...times].sort().reverse());
    expect(china.lastArticleAt).toBe(times[0]);
    const quiet = body.items.find((topic: { id: string }) => topic.id === 'economy');
    expect(quiet).toMatchObject({ followers: 0, lastArticleAt: null, recentArticles: [] });
  });

  it('lists keys for admins only, newest first, never the key or its hash', async () => {
    const revoked = await createApiKey(app.store.db, 'editor', 'old');
    await revokeApiKey(app.store.db, revoked.id);
    const live = await get('/api/keys', 'admin');
    expect(live.status).toBe(200);
    expect(live.body.items.map((k: { label: string }) => k.label)).toEqual([
      'lists admin',
      'lists ops',
      'lists editor',
    ]);
    const everything = await get('/api/keys?revoked=true&limit=100', 'admin');
    expect(everything.body.total).toBe(4);
    expect(JSON.stringify(everything.body)).not.toMatch(/hk_|key_hash|[0-9a-f]{64}/);
    expect((await get('/api/keys', 'editor')).status).toBe(403);
    expect((await get('/api/keys', 'ops')).status).toBe(403);
  });

  it('answers bad paging and filters with a 400 naming the field, and changes nothing', async () => {
    const cases: Array<[string, string]> = [
      ['/api/subscribers?limit=0', 'limit'],
      ['/api/subscribers?limit=101', 'limit'],
      ['/api/articles?limit=ten', 'limit'],
      ['/api/campaigns?limit=2.5', 'limit'],
      ['/api/subscribers?cursor=not-a-cursor!', 'cursor'],
      ['/api/articles?cursor=abc', 'cursor'],
      [`/api/campaigns?cursor=${Buffer.from('["x", -1]').toString('base64url')}`, 'cursor'],
      [`/api/keys?cursor=${Buffer.from('{"id":1}').toString('base64url')}`, 'cursor'],
      ['/api/subscribers?status=gone', 'status'],
      ['/api/campaigns?status=SENT', 'status'],
      ['/api/campaigns?kind=other', 'kind'],
      ['/api/subscribers?topic=Not%20A%20Topic', 'topic'],
      ['/api/articles?from=yesterday', 'from'],
      ['/api/articles?to=2026-02-30', 'to'],
      ['/api/articles?from=2026-02-01&to=2026-01-01', 'to'],
      [`/api/subscribers?q=${'x'.repeat(201)}`, 'q'],
      ['/api/subscribers?status=active&status=pending', 'status'],
      ['/api/keys?revoked=yes', 'revoked'],
    ];
    const before = await app.store.db
      .selectFrom('subscribers')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    for (const [url, field] of cases) {
      const { status, body } = await get(url, 'admin');
      expect(status, url).toBe(400);
      expect(body.error, url).toEqual(expect.any(String));
      expect(
        body.details.map((d: { field: string }) => d.field),
        url,
      ).toContain(field);
    }
    const after = await app.store.db
      .selectFrom('subscribers')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    // A cursor of another row shape is refused; one of this module's shape is taken.
    const foreign = encodeCursor({ createdAt: at(0), id: 1 });
    expect((await get(`/api/subscribers?cursor=${foreign}`)).status).toBe(200);
  });

  it('answers 401 without a key and 403 for a role the list is not for', async () => {
    for (const url of [
      '/api/articles',
      '/api/campaigns',
      '/api/subscribers',
      '/api/topics',
      '/api/keys',
    ]) {
      expect((await get(url, 'none')).status, url).toBe(401);
      expect((await get(url, 'ops')).status, url).toBe(403);
      expect((await get(url, 'admin')).status, url).toBe(200);
    }
    for (const url of ['/api/articles', '/api/campaigns', '/api/subscribers', '/api/topics']) {
      expect((await get(url, 'editor')).status, url).toBe(200);
    }
  });
});
