// Held-back alerts reach every subscriber (issue 16): a digest-off subscriber in quiet hours gets
// a digest of their held alerts at their send hour once quiet hours end (once, even with two
// ticks racing on two store connections); a daily-digest subscriber held back by the cap gets the
// held alert in their next digest exactly once, even when the article's date is older than their
// previous digest. Both SQL dialects, real Redis and SMTP sink, the real clock for the hold.
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema, type StoredArticle } from '../src/articles/schema.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { cancelCampaign, scheduleCampaign, sendCampaign } from '../src/delivery/control.ts';
import { DIGEST_MAX_ARTICLES, withHeldArticles } from '../src/digests/plan.ts';
import { type DigestDeps, runDigestTick } from '../src/digests/tick.ts';
import { openStore } from '../src/store/db.ts';
import { newsroomDb } from '../src/store/schema-newsroom.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

/** A fixed-offset zone whose local hour is now `hour`. */
function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = (hour - now.getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  if (offset === 0) return 'UTC';
  // Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

/** The next instant after now at which the zone's clock reads hh:mm. */
function nextLocal(zone: string, hour: number, minute: number): Date {
  const local = DateTime.now().setZone(zone);
  let at = local.set({ hour, minute, second: 0, millisecond: 0 });
  if (at <= local) at = at.plus({ days: 1 });
  return at.toJSDate();
}

describe('a digest’s articles with held alerts', () => {
  const article = (id: number, publishedAt: string): StoredArticle => ({
    id,
    title: `Story ${id}`,
    paragraphs: ['Text.'],
    topics: ['china'],
    publishedAt,
  });
  it('keeps every held article, fills up to the limit with topic articles, newest first', () => {
    const topical = Array.from({ length: 12 }, (_, i) =>
      article(100 + i, `2026-12-01T${String(10 + i).padStart(2, '0')}:00:00Z`),
    ).reverse();
    const held = [article(7, '2026-11-20T09:00:00Z'), article(111, '2026-12-01T21:00:00Z')];
    const chosen = withHeldArticles(held, topical);
    expect(chosen).toHaveLength(DIGEST_MAX_ARTICLES);
    expect(chosen.map((a) => a.id)).toContain(7);
    expect(chosen.filter((a) => a.id === 111)).toHaveLength(1);
    expect(chosen[0]!.id).toBe(111);
    expect(chosen.at(-1)!.id).toBe(7);
    const many = Array.from({ length: 12 }, (_, i) => article(i + 1, '2026-11-20T09:00:00Z'));
    expect(withHeldArticles(many, topical)).toHaveLength(12);
  });
});

describe.each(DIALECTS)('held-back alerts reach every subscriber (%s)', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let deps: DigestDeps;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        ALERT_DAILY_CAP: '1',
        ALERT_QUIET_HOURS: '22:00-07:00',
      }),
    );
    await ensureCatalogue(herald.app.store.db);
    // Compiled newsletters are cached per campaign id in the process (src/delivery/renderer.ts):
    // keep this store's ids apart from the other dialect's, which ran in the same process.
    if (dialect === 'postgres')
      await sql`select setval(pg_get_serial_sequence('campaigns', 'id'), 100000)`.execute(
        herald.app.store.db,
      );
    deps = {
      db: herald.app.store.db,
      config: herald.app.config,
      logger: herald.app.logger,
      queues: herald.queues,
      now: () => new Date(),
    };
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  /** Stores an article and sends it as a rule-made alert campaign; waits until it is done. */
  async function sendAlert(title: string, topic: string, publishedAt?: string): Promise<number> {
    const db = herald.app.store.db;
    const stamp = new Date().toISOString();
    const { article } = await saveArticle(
      db,
      articleSchema.parse({
        title,
        paragraphs: [`${title}: what happened.`],
        topics: [topic],
        ...(publishedAt ? { publishedAt } : {}),
      }),
    );
    const { campaign } = await createCampaign(
      db,
      { articleIds: [article.id], template: 'alert' },
      stamp,
    );
    await newsroomDb(db)
      .insertInto('alert_campaigns')
      .values({
        article_id: article.id,
        campaign_id: campaign.id,
        rule_id: 0,
        mode: 'approval',
        send_at: null,
        placed_at: null,
        created_at: stamp,
      })
      .execute();
    await sendCampaign({ ...deps, queues: herald.queues }, campaign.id);
    await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent', 60_000);
    return article.id;
  }

  const heldRows = (subscriberId: number) =>
    newsroomDb(herald.app.store.db)
      .selectFrom('alert_held')
      .selectAll()
      .where('subscriber_id', '=', subscriberId)
      .execute();

  const subjectsTo = async (email: string) =>
    Promise.all(
      sink.messages
        .filter((m) => m.to[0] === email)
        .map(async (m) => (await sink.parse(m)).subject),
    );

  const textsTo = async (email: string) =>
    Promise.all(
      sink.messages.filter((m) => m.to[0] === email).map(async (m) => (await sink.parse(m)).text),
    );

  async function tick(at: Date, tickDeps = deps): Promise<number> {
    const result = await runDigestTick(tickDeps, at);
    for (const id of result.campaigns)
      await waitForCampaign(herald.app, id, (r) => r.status === 'sent', 60_000);
    return result.queued;
  }

  it('a digest-off subscriber in quiet hours gets the held alert once quiet hours end, once', async () => {
    const db = herald.app.store.db;
    const zone = zoneAtLocalHour(2);
    const [asleep] = await seedSubscribers(db, [
      { email: 'asleep-off@example.org', topics: ['china'], timezone: zone },
    ]);
    const row = await db
      .selectFrom('subscribers')
      .select(['digest', 'send_hour'])
      .where('id', '=', asleep!)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ digest: 'off', send_hour: 7 });

    await sendAlert('Night-time summit ends', 'china');
    expect(await subjectsTo('asleep-off@example.org')).toEqual([]);
    expect((await heldRows(asleep!)).map((h) => h.reason)).toEqual(['quiet-hours']);

    // Still quiet (06:30 local): no digest, the held row stays.
    expect(await tick(nextLocal(zone, 6, 30))).toBe(0);
    expect(await heldRows(asleep!)).toHaveLength(1);

    // 07:10 local, quiet hours over and the send hour: two ticks race. On PostgreSQL they use
    // two connections, as two processes would; better-sqlite3 blocks the event loop while it
    // waits for a lock, so in one process SQLite ticks share the one connection.
    const second = dialect === 'postgres' ? await openStore(t.target, { migrate: false }) : null;
    try {
      const at = nextLocal(zone, 7, 10);
      const queued = await Promise.all([
        tick(at),
        tick(at, { ...deps, db: second?.db ?? deps.db }),
      ]);
      expect(queued.reduce((a, b) => a + b, 0)).toBe(1);
    } finally {
      await second?.close();
    }
    expect(await subjectsTo('asleep-off@example.org')).toEqual([
      'Alerts held back for you: 1 story',
    ]);
    expect((await textsTo('asleep-off@example.org'))[0]).toContain('Night-time summit ends');
    expect(await heldRows(asleep!)).toEqual([]);

    // Later ticks of the hour and the next day's send hour: nothing more.
    expect(await tick(nextLocal(zone, 7, 40))).toBe(0);
    expect(await tick(new Date(nextLocal(zone, 7, 10).getTime() + 24 * 3_600_000))).toBe(0);
    expect(await subjectsTo('asleep-off@example.org')).toHaveLength(1);
  });

  it('a daily-digest subscriber gets the capped alert in their next digest exactly once', async () => {
    const db = herald.app.store.db;
    const zone = zoneAtLocalHour(12);
    const [busy] = await seedSubscribers(db, [
      { email: 'busy-daily@example.org', topics: ['russia'], timezone: zone },
    ]);
    const digestAt = nextLocal(zone, 7, 10);
    // Their previous digest was just now: an article dated earlier is not in the next one by
    // the topic rule, so only the held row can bring it.
    await db
      .updateTable('subscribers')
      .set({ digest: 'daily', last_digest_at: new Date().toISOString() })
      .where('id', '=', busy!)
      .execute();

    await sendAlert('First alert of the day', 'russia');
    const yesterday = new Date(Date.now() - 24 * 3_600_000).toISOString();
    await sendAlert('Capped alert with an old date', 'russia', yesterday);
    expect(await subjectsTo('busy-daily@example.org')).toEqual(['First alert of the day']);
    expect((await heldRows(busy!)).map((h) => h.reason)).toEqual(['cap']);

    expect(await tick(digestAt)).toBe(1);
    const subjects = await subjectsTo('busy-daily@example.org');
    expect(subjects, JSON.stringify(subjects)).toHaveLength(2);
    expect(subjects[1]).toMatch(/^Your daily digest: /);
    const digestText = (await textsTo('busy-daily@example.org'))[1] ?? '';
    // The held article is listed exactly as often as the other one (a title shows twice).
    const times = (title: string) => digestText.split(title).length - 1;
    expect(times('First alert of the day')).toBeGreaterThan(0);
    expect(times('Capped alert with an old date')).toBe(times('First alert of the day'));
    expect(await heldRows(busy!)).toEqual([]);

    // The next day's digest carries a new article but not the held one again.
    await saveArticle(
      db,
      articleSchema.parse({
        title: 'Next day story',
        paragraphs: ['Next day story: more.'],
        topics: ['russia'],
        publishedAt: new Date(digestAt.getTime() + 3_600_000).toISOString(),
      }),
    );
    expect(await tick(new Date(digestAt.getTime() + 24 * 3_600_000))).toBe(1);
    const texts = await textsTo('busy-daily@example.org');
    expect(texts).toHaveLength(3);
    expect(texts[2]).toContain('Next day story');
    expect(texts[2]).not.toContain('Capped alert with an old date');
  });

  it('an alert cancelled by an editor is not carried into a later digest', async () => {
    const db = herald.app.store.db;
    const [reader] = await seedSubscribers(db, [
      { email: 'cancelled-alert@example.org', topics: ['china'] },
    ]);
    const { article } = await saveArticle(
      db,
      articleSchema.parse({ title: 'A wrong alert', paragraphs: ['Wrong.'], topics: ['china'] }),
    );
    const { campaign } = await createCampaign(
      db,
      { articleIds: [article.id], template: 'alert' },
      new Date().toISOString(),
    );
    await scheduleCampaign(
      { ...deps, queues: herald.queues },
      campaign.id,
      new Date(Date.now() + 3_600_000),
    );
    // As the cap writes it for a reader held back while the campaign was going out.
    await newsroomDb(db)
      .insertInto('alert_held')
      .values({
        subscriber_id: reader!,
        campaign_id: campaign.id,
        article_ids: JSON.stringify([article.id]),
        reason: 'cap',
        created_at: new Date().toISOString(),
      })
      .execute();
    expect(await heldRows(reader!)).toHaveLength(1);
    await cancelCampaign({ ...deps, queues: herald.queues }, campaign.id);
    expect(await heldRows(reader!)).toEqual([]);
  });
});
