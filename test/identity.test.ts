// Subscriber identity: case-insensitive in the whole address, the typed form kept for display,
// one suppression for every casing; migration 0006 merges duplicates already in a store; a
// fresh store knows the catalogue's topics before any article arrives.
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { previewDigest } from '../src/digests/preview.ts';
import { openStore, type Store } from '../src/store/db.ts';
import { migrateToLatest, migrationNames } from '../src/store/migrations.ts';
import { unsubscribe } from '../src/subscribers/events.ts';
import { emailHash, emailKey, parseEmail } from '../src/subscribers/identity.ts';
import { importSubscribersCsv } from '../src/subscribers/import.ts';
import { requestSubscription } from '../src/subscribers/optin.ts';
import { findSubscriberByEmail, upsertSubscriber } from '../src/subscribers/repository.ts';
import { suppressionOf } from '../src/subscribers/suppressions.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { insertCampaign, insertTopics } from './helpers/rows.ts';
import { seedFixtureArticle } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { createTestTarget, DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const NOW = '2026-03-01T08:00:00.000Z';

describe('email identity (pure)', () => {
  it('keys by the lower-cased whole address and hashes that form', () => {
    expect(parseEmail('  PRIYA.Petrov.0@Example.NET ')).toBe('priya.petrov.0@example.net');
    expect(emailKey('Priya@X.net')).toBe(emailKey('priya@x.NET'));
    expect(emailHash('PRIYA@example.net')).toBe(emailHash('priya@EXAMPLE.net'));
    expect(parseEmail('not an address')).toBeNull();
  });
});

describe.each(DIALECTS)('subscriber identity (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('accepts catalogue topics on a fresh store (seeded when the store opens)', async () => {
    const db = t.store.db;
    const added = await upsertSubscriber(
      db,
      { email: 'first@example.org', topics: ['russia-china-relations'] },
      NOW,
    );
    expect(added.created).toBe(true);
    const report = await importSubscribersCsv(
      db,
      'email,name,topics,timezone,digest\nsecond@example.org,Sec,china;russia,UTC,daily\n',
      { status: 'active', now: NOW },
    );
    expect(report.rejected).toEqual([]);
    expect(report.imported).toBe(1);
    expect((await findSubscriberByEmail(db, 'second@example.org'))?.topics).toEqual([
      'china',
      'russia',
    ]);
  });

  it('makes three casings one subscriber, shown as first typed', async () => {
    const db = t.store.db;
    const first = await upsertSubscriber(
      db,
      { email: 'Priya.Petrov.0@Example.net', topics: ['china'] },
      NOW,
    );
    const second = await upsertSubscriber(db, { email: 'PRIYA.PETROV.0@example.net' }, NOW);
    expect(second).toEqual({ id: first.id, created: false });
    const report = await importSubscribersCsv(
      db,
      'email,name,topics,timezone,digest\npriya.petrov.0@EXAMPLE.NET,Priya,russia,,\n',
      { status: 'active', now: NOW },
    );
    expect(report).toMatchObject({ imported: 0, updated: 1, rejected: [] });
    // The public form: already active, so no second subscriber and no confirmation: the owner
    // (at the address as first typed) is mailed a link to their preferences instead.
    expect(
      await requestSubscription(db, { email: 'pRiYa.petrov.0@example.net', topics: ['china'] }),
    ).toMatchObject({
      send: true,
      kind: 'manage',
      recipient: { subscriberId: first.id, email: 'Priya.Petrov.0@example.net' },
    });

    const rows = await db
      .selectFrom('subscribers')
      .select(['id', 'email'])
      .where('email', 'like', '%petrov%')
      .execute();
    expect(rows).toEqual([{ id: first.id, email: 'priya.petrov.0@example.net' }]);
    const found = await findSubscriberByEmail(db, 'PRIYA.petrov.0@example.NET');
    expect(found).toMatchObject({ id: first.id, email: 'Priya.Petrov.0@example.net' });
    expect(found?.topics).toEqual(['russia']);
  });

  it('unsubscribing one casing unsubscribes and suppresses every casing', async () => {
    const db = t.store.db;
    const { id } = await upsertSubscriber(db, { email: 'Sam.Case@example.org' }, NOW);
    await unsubscribe(db, id, { now: NOW });
    for (const casing of ['sam.case@example.org', 'SAM.CASE@EXAMPLE.ORG', 'Sam.Case@example.org']) {
      expect((await findSubscriberByEmail(db, casing))?.status).toBe('unsubscribed');
      expect(await suppressionOf(db, casing)).toBe('unsubscribe');
    }
    const report = await importSubscribersCsv(
      db,
      'email,name,topics,timezone,digest\nSAM.case@Example.org,,,,\n',
      { status: 'active', now: NOW },
    );
    expect(report.rejected).toEqual([
      expect.objectContaining({ reason: 'suppressed: unsubscribe' }),
    ]);
  });

  it('refuses a second casing written around the normaliser (unique index on the normal form)', async () => {
    const db = t.store.db;
    await upsertSubscriber(db, { email: 'guard@example.org' }, NOW);
    await expect(
      db
        .insertInto('subscribers')
        .values({
          email: 'GUARD@example.org',
          status: 'active',
          created_at: NOW,
          updated_at: NOW,
        })
        .execute(),
    ).rejects.toThrow(/unique|UNIQUE/);
  });
});

describe.each(DIALECTS)('migration 0006 merges case duplicates (%s)', (dialect) => {
  let store: Store;
  let dispose: () => Promise<void>;
  afterEach(async () => {
    await store?.close();
    await dispose?.();
  });

  it('keeps the oldest row with the strictest state, the union of topics and the most final ledger rows', async () => {
    const created = await createTestTarget(dialect);
    dispose = created.dispose;
    store = await openStore(created.target, { migrate: false });
    const names = migrationNames(dialect);
    const before = names[names.indexOf('0006_email_identity') - 1]!;
    await migrateToLatest(store.db, dialect, before);
    const db = store.db;
    await insertTopics(db, ['china', 'russia', 'economy']);
    const insert = async (email: string, status: 'active' | 'unsubscribed' | 'pending') =>
      (
        await db
          .insertInto('subscribers')
          .values({
            email,
            status,
            created_at: NOW,
            updated_at: NOW,
            confirmed_at: status === 'pending' ? null : NOW,
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const oldest = await insert('Priya.Petrov.0@example.net', 'active');
    const shouty = await insert('PRIYA.PETROV.0@example.net', 'unsubscribed');
    const lower = await insert('priya.petrov.0@example.net', 'pending');
    const other = await insert('Other@example.net', 'active');
    const follow = async (subscriberId: number, topics: string[]) =>
      db
        .insertInto('subscriptions')
        .values(
          topics.map((topic_id) => ({ subscriber_id: subscriberId, topic_id, created_at: NOW })),
        )
        .execute();
    await follow(oldest, ['china']);
    await follow(shouty, ['china', 'russia']);
    await follow(lower, ['economy']);

    const both = await insertCampaign(db, { status: 'sending' });
    const onlyDuplicate = await insertCampaign(db, { status: 'sent' });
    const ledger = (campaign_id: number, subscriber_id: number, status: 'pending' | 'sent') => ({
      campaign_id,
      subscriber_id,
      status,
      attempts: status === 'sent' ? 1 : 0,
      sent_at: status === 'sent' ? NOW : null,
      updated_at: NOW,
    });
    await db
      .insertInto('deliveries')
      .values([
        ledger(both, oldest, 'pending'),
        ledger(both, shouty, 'sent'),
        ledger(onlyDuplicate, lower, 'sent'),
      ])
      .execute();
    await db
      .insertInto('events')
      .values({ type: 'unsubscribe', subscriber_id: shouty, detail: '{}', created_at: NOW })
      .execute();

    expect(await migrateToLatest(db, dialect)).toContain('0006_email_identity');

    const subscribers = await db
      .selectFrom('subscribers')
      .select(['id', 'email', 'email_display', 'status', 'confirmed_at'])
      .orderBy('id')
      .execute();
    expect(subscribers).toEqual([
      {
        id: oldest,
        email: 'priya.petrov.0@example.net',
        email_display: 'Priya.Petrov.0@example.net',
        status: 'unsubscribed',
        confirmed_at: NOW,
      },
      {
        id: other,
        email: 'other@example.net',
        email_display: 'Other@example.net',
        status: 'active',
        confirmed_at: NOW,
      },
    ]);
    const topics = await db
      .selectFrom('subscriptions')
      .select('topic_id')
      .where('subscriber_id', '=', oldest)
      .orderBy('topic_id')
      .execute();
    expect(topics.map((r) => r.topic_id)).toEqual(['china', 'economy', 'russia']);
    const rows = await db
      .selectFrom('deliveries')
      .select(['campaign_id', 'subscriber_id', 'status'])
      .orderBy('campaign_id')
      .execute();
    expect(rows).toEqual([
      { campaign_id: both, subscriber_id: oldest, status: 'sent' },
      { campaign_id: onlyDuplicate, subscriber_id: oldest, status: 'sent' },
    ]);
    const events = await db.selectFrom('events').select('subscriber_id').execute();
    expect(events).toEqual([{ subscriber_id: oldest }]);
    expect((await findSubscriberByEmail(db, 'PRIYA.petrov.0@EXAMPLE.net'))?.id).toBe(oldest);
  });
});

describe.each(DIALECTS)('delivery to the address as typed (%s)', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }));
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('puts the typed casing in the To header and the RCPT TO, for campaigns and digests', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    await importSubscribersCsv(
      db,
      'email,name,topics,digest\nPriya.Petrov@Example.NET,Priya,russia-china-relations,daily\n',
      { status: 'active' },
    );
    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: ['russia-china-relations'] }),
      new Date().toISOString(),
    );
    await sendCampaign(
      { db, config: herald.app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    // The campaign's own messages: between 07:00 and 08:00 UTC her daily digest (07:00 in her
    // zone) is due too, and the digests worker running here sends it beside the campaign.
    const received = await Promise.all(
      sink.messages.map(async (m) => ({ envelopeTo: m.to, parsed: await sink.parse(m) })),
    );
    const ofCampaign = received.filter((r) => r.parsed.subject === campaign.subject);
    expect(ofCampaign.map((r) => r.envelopeTo)).toEqual([['Priya.Petrov@example.net']]);
    const parsed = ofCampaign[0]!.parsed;
    expect(parsed.to).toMatchObject({ value: [{ address: 'Priya.Petrov@example.net' }] });

    // Digests go out through the same batch delivery; their preview must agree too.
    const preview = await previewDigest(
      db,
      herald.app.config,
      'priya.petrov@example.net',
      new Date(),
    );
    expect((await simpleParser(preview.message.raw)).to).toMatchObject({
      value: [{ address: 'Priya.Petrov@example.net' }],
    });
  }, 60_000);
});
