// Digest ticks end to end at injected instants (app + delivery workers in-process, a real SMTP
// sink, both SQL dialects): two zones, different topics and frequencies, exactly their topics'
// new articles, once per period, nothing when nothing is new; preview and the CLI tick.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema } from '../src/articles/schema.ts';
import { DigestPreviewError, previewDigest } from '../src/digests/preview.ts';
import { type DigestDeps, runDigestTick } from '../src/digests/tick.ts';
import type { Service } from '../src/process/lifecycle.ts';
import type { Database } from '../src/store/schema.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { startWorkers } from '../workers/index.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

async function addArticle(
  db: Kysely<Database>,
  title: string,
  topics: string[],
  publishedAt: string,
): Promise<void> {
  await saveArticle(
    db,
    articleSchema.parse({ title, paragraphs: [`${title}: the story.`], topics, publishedAt }),
  );
}

describe.each(DIALECTS)('digest ticks on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let workers: Service[];
  let deps: DigestDeps;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    // Delivery workers only: the ticks below run at chosen instants, not on the real clock.
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }), false);
    workers = await startWorkers(herald.app, ['campaigns', 'deliveries', 'reconcile']);
    deps = {
      db: herald.app.store.db,
      config: herald.app.config,
      logger: herald.app.logger,
      queues: herald.queues,
      now: () => new Date(),
    };
  });
  afterAll(async () => {
    for (const worker of [...(workers ?? [])].reverse()) await worker.stop();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  /** Sends the tick's campaigns and returns each recipient's parsed messages of this tick. */
  async function deliver(campaigns: number[]) {
    for (const id of campaigns) await waitForCampaign(herald.app, id, (r) => r.status === 'sent');
  }
  const received = async (email: string) => {
    const mine = sink.messages.filter((m) => m.to[0] === email);
    return Promise.all(mine.map((m) => sink.parse(m)));
  };

  it('gives each subscriber their topics’ new articles at their local hour, once per period', async () => {
    const db = herald.app.store.db;
    await ensureCatalogue(db);
    const [parisA, parisB, kolkata, off] = await seedSubscribers(db, [
      { email: 'paris-a@example.net', topics: ['climate'], timezone: 'Europe/Paris' },
      { email: 'paris-b@example.net', topics: ['climate'], timezone: 'Europe/Paris' },
      { email: 'kolkata@example.net', topics: ['technology'], timezone: 'Asia/Kolkata' },
      { email: 'off@example.net', topics: ['climate'], timezone: 'Europe/Paris' },
    ]);
    await db
      .updateTable('subscribers')
      .set({ digest: 'daily', send_hour: 7, last_digest_at: '2026-11-27T06:00:00.000Z' })
      .where('id', 'in', [parisA!, parisB!])
      .execute();
    await db
      .updateTable('subscribers')
      .set({
        digest: 'weekly',
        digest_weekday: 1,
        send_hour: 8,
        last_digest_at: '2026-11-23T02:30:00.000Z',
      })
      .where('id', '=', kolkata!)
      .execute();
    expect(off).toBeDefined();

    await addArticle(db, 'Glaciers retreat', ['climate'], '2026-11-20T09:00:00Z'); // before last
    await addArticle(db, 'Floods in the delta', ['climate'], '2026-11-27T10:00:00Z');
    await addArticle(db, 'Solar chips', ['climate', 'technology'], '2026-11-28T03:00:00Z');
    await addArticle(db, 'Carbon price record', ['climate'], '2026-11-28T05:00:00Z');
    await addArticle(db, 'Bond yields', ['economy'], '2026-11-28T01:00:00Z'); // nobody's topic
    await addArticle(db, 'Old chip news', ['technology'], '2026-11-22T09:00:00Z'); // before last
    await addArticle(db, 'Quantum laptop', ['technology'], '2026-11-29T12:00:00Z');

    // Saturday 07:05 in Paris (06:05Z): the Paris dailies; Kolkata's weekly is on Mondays.
    const first = await runDigestTick(deps, new Date('2026-11-28T06:05:00Z'));
    expect(first).toMatchObject({ due: 2, queued: 2, nothingNew: 0 });
    expect(first.campaigns).toHaveLength(1); // same content: one compile for both
    // The same tick again, and a later tick of the same hour: nothing more.
    expect((await runDigestTick(deps, new Date('2026-11-28T06:05:00Z'))).queued).toBe(0);
    await addArticle(db, 'Late climate note', ['climate'], '2026-11-28T06:10:00Z');
    expect((await runDigestTick(deps, new Date('2026-11-28T06:20:00Z'))).queued).toBe(0);
    await deliver(first.campaigns);
    for (const email of ['paris-a@example.net', 'paris-b@example.net']) {
      const [digest, ...more] = await received(email);
      expect(more).toHaveLength(0);
      expect(digest!.subject).toBe('Your daily digest: 3 new stories');
      const text = String(digest!.text);
      // Newest first: Carbon (05:00), Solar (03:00), Floods (yesterday).
      const order = ['Carbon price record', 'Solar chips', 'Floods in the delta'].map((title) =>
        text.indexOf(title),
      );
      expect(order.every((index) => index >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      for (const absent of ['Glaciers retreat', 'Bond yields', 'Quantum laptop', 'Old chip news'])
        expect(text).not.toContain(absent);
    }
    const raw = sink.messages.find((m) => m.to[0] === 'paris-a@example.net')!.raw.toString('utf8');
    expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);

    // Sunday 07:05 Paris: the late note is new for them (since Saturday's digest).
    const sunday = await runDigestTick(deps, new Date('2026-11-29T06:05:00Z'));
    expect(sunday).toMatchObject({ due: 2, queued: 2 });
    await deliver(sunday.campaigns);
    const [, second] = await received('paris-a@example.net');
    expect(String(second!.text)).toContain('Late climate note');
    expect(String(second!.text)).not.toContain('Carbon price record');

    // Monday 07:05 Paris: nothing new → no email.
    const monday = await runDigestTick(deps, new Date('2026-11-30T06:05:00Z'));
    expect(monday).toMatchObject({ due: 2, queued: 0, nothingNew: 2, campaigns: [] });

    // Monday 08:05 in Kolkata (02:35Z): the weekly, technology only, since last Monday.
    const weekly = await runDigestTick(deps, new Date('2026-11-30T02:35:00Z'));
    expect(weekly).toMatchObject({ due: 1, queued: 1 });
    await deliver(weekly.campaigns);
    const [kolkataDigest, ...kolkataMore] = await received('kolkata@example.net');
    expect(kolkataMore).toHaveLength(0);
    expect(kolkataDigest!.subject).toBe('Your weekly digest: 2 new stories');
    const kolkataText = String(kolkataDigest!.text);
    expect(kolkataText).toContain('Quantum laptop');
    expect(kolkataText).toContain('Solar chips');
    expect(kolkataText).not.toContain('Old chip news');
    expect(kolkataText).not.toContain('Carbon price record');

    expect(await received('off@example.net')).toHaveLength(0);
    const counts = sink.countsByRecipient();
    expect(Object.fromEntries(counts)).toEqual({
      'paris-a@example.net': 2,
      'paris-b@example.net': 2,
      'kolkata@example.net': 1,
    });
    const lastDigest = await db
      .selectFrom('subscribers')
      .select(['email', 'last_digest_at'])
      .orderBy('id')
      .execute();
    expect(lastDigest.map((row) => row.last_digest_at)).toEqual([
      '2026-11-29T06:05:00.000Z',
      '2026-11-29T06:05:00.000Z',
      '2026-11-30T02:35:00.000Z',
      null,
    ]);
  });

  it('previews one subscriber’s digest without storing anything', async () => {
    const db = herald.app.store.db;
    // Nothing new for either since their last digest: no digest would be sent.
    for (const [email, at] of [
      ['kolkata@example.net', '2026-12-07T02:35:00Z'],
      ['paris-a@example.net', '2026-11-30T06:30:00Z'],
    ] as const) {
      await expect(
        previewDigest(db, herald.app.config, email, new Date(at)),
      ).rejects.toBeInstanceOf(DigestPreviewError);
    }
    await addArticle(db, 'Preview-only story', ['technology'], '2026-12-02T09:00:00Z');
    const withNews = await previewDigest(
      db,
      herald.app.config,
      'kolkata@example.net',
      new Date('2026-12-07T02:35:00Z'),
    );
    expect(withNews.since).toBe('2026-11-30T02:35:00.000Z');
    expect(withNews.articles.map((a) => a.title)).toEqual(['Preview-only story']);
    expect(withNews.message.raw.toString('utf8')).toContain('Subject: Your weekly digest');
    const row = await db
      .selectFrom('subscribers')
      .select('last_digest_at')
      .where('email', '=', 'kolkata@example.net')
      .executeTakeFirstOrThrow();
    expect(row.last_digest_at).toBe('2026-11-30T02:35:00.000Z');
  });

  it('runs a tick from the command line at --at and prints one JSON document', () => {
    const result = spawnSync(
      process.execPath,
      [
        resolve(import.meta.dirname, '../bin/herald.js'),
        'digests',
        'run',
        '--at',
        '2026-12-07T02:40:00Z',
        '--json',
      ],
      { env: { ...process.env, ...herald.env }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      at: '2026-12-07T02:40:00.000Z',
      due: 1,
      queued: 1,
    });
  });

  it('gives each due subscriber one ledger row when two ticks of the same instant race', async () => {
    const db = herald.app.store.db;
    const people = Array.from({ length: 230 }, (_, i) => ({
      email: `race${i}@example.net`,
      topics: ['economy'],
    }));
    const ids = await seedSubscribers(db, people);
    await db
      .updateTable('subscribers')
      .set({ digest: 'daily', send_hour: 7 })
      .where('id', 'in', ids)
      .execute();
    await addArticle(db, 'Bond markets calm', ['economy'], '2026-12-01T01:00:00Z');
    // Tuesday 07:05 UTC: only these UTC dailies are due (Paris is at 08:05, Kolkata's is Monday).
    const at = new Date('2026-12-01T07:05:00Z');
    const ticks = await Promise.all([runDigestTick(deps, at), runDigestTick(deps, at)]);
    expect(ticks[0]!.queued + ticks[1]!.queued).toBe(people.length);
    const campaigns = [...ticks[0]!.campaigns, ...ticks[1]!.campaigns];
    const rows = await db
      .selectFrom('deliveries')
      .select(['campaign_id', 'subscriber_id', 'batch_no', 'status'])
      .where('campaign_id', 'in', campaigns)
      .execute();
    expect(rows).toHaveLength(people.length);
    expect(new Set(rows.map((row) => row.subscriber_id))).toEqual(new Set(ids));
    // The running workers may already be sending the first batches: nothing else, though.
    expect(rows.filter((row) => !['pending', 'sending', 'sent'].includes(row.status))).toEqual([]);
    // Batches of BATCH_SIZE (100) per campaign, numbered from 1.
    for (const id of campaigns) {
      const mine = rows.filter((row) => row.campaign_id === id);
      const sizes = new Map<number, number>();
      for (const row of mine) sizes.set(row.batch_no, (sizes.get(row.batch_no) ?? 0) + 1);
      const expected = Array.from({ length: Math.ceil(mine.length / 100) }, (_, i) =>
        Math.min(100, mine.length - i * 100),
      );
      expect([...sizes.keys()].sort((a, b) => a - b)).toEqual(expected.map((_, i) => i + 1));
      expect([...sizes.keys()].sort((a, b) => a - b).map((n) => sizes.get(n))).toEqual(expected);
    }
    await deliver(campaigns);
    for (const person of people) expect(sink.countsByRecipient().get(person.email)).toBe(1);
  });
});
