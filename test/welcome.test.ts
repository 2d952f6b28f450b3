// The welcome mail on both dialects (real Redis, workers, SMTP sink): one per confirmation,
// through the delivery path (ledger row, compliance headers), listing topics and the digest
// choice; also when the process died between confirming and creating it (the reconciler's
// sweep makes it), and never twice (a second confirm, concurrent creators, repeated sweeps).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowIso } from '../src/store/db.ts';
import { newsroomDb } from '../src/store/schema-newsroom.ts';
import { recordEvent } from '../src/subscribers/events.ts';
import { confirmSubscription, requestSubscription } from '../src/subscribers/optin.ts';
import { confirmSubscriber } from '../src/subscribers/repository.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { createWelcome, sweepWelcomes } from '../src/welcome/create.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DIALECTS)('welcome mail (%s)', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(
      testEnv(t.databaseUrl, { SMTP_URL: sink.url, RECONCILE_EVERY_MS: '300' }),
    );
    await ensureCatalogue(herald.app.store.db);
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  const welcomeOf = async (subscriberId: number) =>
    newsroomDb(herald.app.store.db)
      .selectFrom('welcome_mails')
      .selectAll()
      .where('subscriber_id', '=', subscriberId)
      .executeTakeFirst();

  it('sends one welcome listing the topics and the digest choice', async () => {
    const db = herald.app.store.db;
    const decision = await requestSubscription(db, {
      email: 'new@example.org',
      name: 'Nia',
      topics: ['russia-china-relations', 'climate'],
      digest: 'weekly',
      timezone: 'Europe/Paris',
    });
    expect(decision.send).toBe(true);
    const id = decision.send ? decision.recipient.subscriberId : 0;
    expect(await welcomeOf(id)).toBeUndefined();
    expect(await confirmSubscription(db, id)).toBe('confirmed');
    expect(await confirmSubscription(db, id)).toBe('already-active');
    const welcome = (await welcomeOf(id))!;
    await waitForCampaign(herald.app, welcome.campaign_id, (r) => r.status === 'sent', 60_000);
    await sleep(1_000); // further reconciler passes must not send it again
    const mine = sink.messages.filter((m) => m.to[0] === 'new@example.org');
    expect(mine).toHaveLength(1);
    const parsed = await sink.parse(mine[0]!);
    expect(parsed.subject).toBe('Welcome: your subscription is confirmed');
    expect(parsed.text).toContain('Russia-China relations');
    expect(parsed.text).toContain('Climate');
    expect(parsed.text).toMatch(
      /weekly digest of your topics, every Monday at 07:00 \(Europe\/Paris\)/,
    );
    const raw = mine[0]!.raw.toString('utf8');
    expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    expect(raw).toMatch(/^List-ID: .*<welcome\./m);
    const ledger = await db
      .selectFrom('deliveries')
      .select(['subscriber_id', 'status'])
      .where('campaign_id', '=', welcome.campaign_id)
      .execute();
    expect(ledger).toEqual([{ subscriber_id: id, status: 'sent' }]);
  });

  it('still sends exactly one after a crash between confirming and creating it', async () => {
    const db = herald.app.store.db;
    const decision = await requestSubscription(db, {
      email: 'crash@example.org',
      topics: ['china'],
      digest: 'off',
    });
    const id = decision.send ? decision.recipient.subscriberId : 0;
    // What confirmSubscription does before its welcome call; the process "dies" there.
    const now = nowIso();
    await confirmSubscriber(db, id, now);
    await recordEvent(db, 'confirmed', { subscriberId: id }, now);
    // The reconciler's sweep finds the gap; concurrent creators and sweeps make no second one.
    const [a, b] = await Promise.all([createWelcome(db, id, now), sweepWelcomes(db, new Date())]);
    expect(a).toEqual(expect.any(Number));
    expect(b).toBeGreaterThanOrEqual(0);
    const welcome = (await welcomeOf(id))!;
    expect(welcome.campaign_id).toBe(a);
    await waitForCampaign(herald.app, welcome.campaign_id, (r) => r.status === 'sent', 60_000);
    await sleep(1_000);
    expect(sink.messages.filter((m) => m.to[0] === 'crash@example.org')).toHaveLength(1);
    const count = await db
      .selectFrom('campaigns')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('kind', '=', 'welcome')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(2);
    const parsed = await sink.parse(sink.messages.find((m) => m.to[0] === 'crash@example.org')!);
    expect(parsed.text).toContain('No digest');
  });

  it('is created by the sweep alone (no call at all) within a reconciler pass', async () => {
    const db = herald.app.store.db;
    const decision = await requestSubscription(db, {
      email: 'swept@example.org',
      topics: ['china'],
    });
    const id = decision.send ? decision.recipient.subscriberId : 0;
    const now = nowIso();
    await confirmSubscriber(db, id, now);
    await recordEvent(db, 'confirmed', { subscriberId: id }, now);
    const deadline = Date.now() + 30_000;
    while (!sink.messages.some((m) => m.to[0] === 'swept@example.org')) {
      if (Date.now() > deadline) throw new Error('no welcome from the sweep');
      await sleep(100);
    }
    await sleep(1_000);
    expect(sink.messages.filter((m) => m.to[0] === 'swept@example.org')).toHaveLength(1);
  });

  it('does not welcome late those who confirmed before the store had welcome mails', async () => {
    const db = herald.app.store.db;
    const decision = await requestSubscription(db, {
      email: 'before-upgrade@example.org',
      topics: ['china'],
    });
    const id = decision.send ? decision.recipient.subscriberId : 0;
    // Confirmed a day before this store ran migration 0008 (as on a round-1 store upgraded).
    const { rows } = await sql<{ timestamp: string | Date }>`
      select timestamp from kysely_migration where name = '0008_newsroom_automation'`.execute(db);
    const before = new Date(new Date(rows[0]!.timestamp).getTime() - 86_400_000).toISOString();
    await confirmSubscriber(db, id, before);
    await recordEvent(db, 'confirmed', { subscriberId: id }, before);
    expect(await sweepWelcomes(db, new Date())).toBe(0);
    const welcomed = await newsroomDb(db)
      .selectFrom('welcome_mails')
      .selectAll()
      .where('subscriber_id', '=', id)
      .execute();
    expect(welcomed).toEqual([]);
  });
});
