// The counts the lists and the dashboard show (a campaign's ledger counts by status, each
// topic's active followers) equal a live count after every kind of write: on PostgreSQL they
// come from the deltas its triggers keep (migration 0014), on SQLite from a live count. Each
// step below writes through the product's own functions where it has one, and through plain
// SQL for what only an operator or a cascade does.
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countAudience, readAudiencePage } from '../src/campaigns/audience.ts';
import { claimBatch } from '../src/ledger/claims.ts';
import { insertLedgerRows, markBounced, recordOutcomes } from '../src/ledger/ledger.ts';
import { ledgerCountsOfCampaigns } from '../src/ledger/reports.ts';
import type { Database } from '../src/store/schema.ts';
import { eraseSubscriber } from '../src/subscribers/events.ts';
import { setSubscriptions, upsertSubscriber } from '../src/subscribers/repository.ts';
import { addSuppression } from '../src/subscribers/suppressions.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { listTopics } from '../src/topics/list.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const NOW = '2026-12-02T06:00:00.000Z';

/** Ledger counts as a live grouped count says them, in the lists' shape. */
async function liveLedgerCounts(db: Kysely<Database>, campaignId: number) {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .where('campaign_id', '=', campaignId)
    .groupBy('status')
    .execute();
  const counts = { total: 0, sent: 0, failed: 0, bounced: 0, suppressed: 0, pending: 0 };
  for (const row of rows) {
    const n = Number(row.n);
    counts.total += n;
    if (row.status === 'pending' || row.status === 'sending') counts.pending += n;
    else counts[row.status] += n;
  }
  return counts;
}

/** Active followers per topic, counted live (topics without any left out). */
async function liveFollowers(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('subscriptions')
    .innerJoin('subscribers', 'subscribers.id', 'subscriptions.subscriber_id')
    .select(['subscriptions.topic_id', (eb) => eb.fn.countAll().as('n')])
    .where('subscribers.status', '=', 'active')
    .groupBy('subscriptions.topic_id')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.topic_id, Number(row.n)]));
}

async function listedFollowers(db: Kysely<Database>): Promise<Record<string, number>> {
  const { items } = await listTopics(db);
  return Object.fromEntries(
    items.filter((topic) => topic.followers !== 0).map((topic) => [topic.id, topic.followers]),
  );
}

describe.each(DIALECTS)('kept counts (%s)', (dialect) => {
  let t: TestStore;
  let db: Kysely<Database>;
  let campaignId: number;
  let otherCampaignId: number;
  const subscriberIds: number[] = [];

  const expectLedgerMatches = async () => {
    const listed = await ledgerCountsOfCampaigns(db, [campaignId, otherCampaignId]);
    expect(listed.get(campaignId)).toEqual(await liveLedgerCounts(db, campaignId));
    expect(listed.get(otherCampaignId)).toEqual(await liveLedgerCounts(db, otherCampaignId));
  };
  const expectFollowersMatch = async () => {
    expect(await listedFollowers(db)).toEqual(await liveFollowers(db));
  };

  beforeAll(async () => {
    t = await openTestStore(dialect);
    db = t.store.db;
    await ensureCatalogue(db);
    for (let i = 0; i < 30; i++) {
      const { id } = await upsertSubscriber(db, {
        email: `counted${i}@example.org`,
        topics: i % 3 === 0 ? ['china', 'russia'] : ['climate'],
        status: i % 5 === 4 ? 'pending' : 'active',
      });
      subscriberIds.push(id);
    }
    const campaign = (name: string) =>
      db
        .insertInto('campaigns')
        .values({
          kind: 'campaign',
          subject: name,
          template: 'alert',
          article_ids: '[]',
          audience_topics: '["china"]',
          status: 'sending',
          created_at: NOW,
          updated_at: NOW,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    campaignId = (await campaign('Counted')).id;
    otherCampaignId = (await campaign('Other')).id;
  });

  afterAll(async () => {
    await t?.dispose();
  });

  it('follows added with subscribers count while their subscriber is active', async () => {
    const followers = await listedFollowers(db);
    expect(followers.climate).toBe(16);
    expect(followers.china).toBe(8);
    await expectFollowersMatch();
  });

  it('a status change, a topic change, a new follow and a deletion move the followers', async () => {
    // Unsubscribe two, activate a pending one, re-activate one.
    await db
      .updateTable('subscribers')
      .set({ status: 'unsubscribed' })
      .where('id', 'in', [subscriberIds[0]!, subscriberIds[1]!])
      .execute();
    await db
      .updateTable('subscribers')
      .set({ status: 'active' })
      .where('id', '=', subscriberIds[4]!)
      .execute();
    await db
      .updateTable('subscribers')
      .set({ status: 'active' })
      .where('id', '=', subscriberIds[1]!)
      .execute();
    // A status write that changes nothing about `active` moves nothing.
    await db
      .updateTable('subscribers')
      .set({ status: 'bounced' })
      .where('id', '=', subscriberIds[0]!)
      .execute();
    await expectFollowersMatch();
    // Topics replaced: climate → china + economy.
    await setSubscriptions(db, subscriberIds[2]!, ['china', 'economy'], NOW);
    await expectFollowersMatch();
    // An operator's update of a follow's topic.
    await db
      .updateTable('subscriptions')
      .set({ topic_id: 'russia' })
      .where('subscriber_id', '=', subscriberIds[5]!)
      .where('topic_id', '=', 'climate')
      .execute();
    await expectFollowersMatch();
    // Deleting an active subscriber takes their follows by cascade; an inactive one's too.
    await db.deleteFrom('subscribers').where('id', '=', subscriberIds[3]!).execute();
    await db.deleteFrom('subscribers').where('id', '=', subscriberIds[0]!).execute();
    await expectFollowersMatch();
    // Follows removed directly, then their subscriber.
    await db.deleteFrom('subscriptions').where('subscriber_id', '=', subscriberIds[6]!).execute();
    await db.deleteFrom('subscribers').where('id', '=', subscriberIds[6]!).execute();
    await expectFollowersMatch();
  });

  it('ledger rows inserted, claimed, sent, bounced and deleted keep the counts exact', async () => {
    const living = (await db.selectFrom('subscribers').select('id').orderBy('id').execute()).map(
      (row) => row.id,
    );
    await insertLedgerRows(
      db,
      campaignId,
      living.map((subscriberId, i) => ({
        subscriberId,
        status: i % 9 === 8 ? ('suppressed' as const) : ('pending' as const),
      })),
      NOW,
    );
    await insertLedgerRows(
      db,
      otherCampaignId,
      living.slice(0, 5).map((subscriberId) => ({ subscriberId })),
      NOW,
    );
    // Inserting the same rows again (a resumed preparation) adds nothing.
    await insertLedgerRows(
      db,
      campaignId,
      living.map((subscriberId) => ({ subscriberId })),
      NOW,
    );
    await expectLedgerMatches();
    const claimed = await claimBatch(db, { campaignId, batchNo: 0 }, 'claim-a', NOW);
    expect(claimed.length).toBeGreaterThan(0);
    await expectLedgerMatches();
    await recordOutcomes(
      db,
      campaignId,
      claimed.map((row, i) => ({
        subscriberId: row.subscriberId,
        status: i % 4 === 0 ? ('failed' as const) : ('sent' as const),
        reply: i % 4 === 0 ? '550 no such user' : '250 ok',
        attempted: true,
      })),
      NOW,
      'claim-a',
    );
    await expectLedgerMatches();
    await markBounced(db, campaignId, claimed[1]!.subscriberId, '550 bounced later', NOW);
    await expectLedgerMatches();
    // An update that leaves the status alone (a touch) moves nothing.
    await db
      .updateTable('deliveries')
      .set({ updated_at: NOW })
      .where('campaign_id', '=', campaignId)
      .execute();
    // A subscriber erased: their rows go.
    await db.deleteFrom('deliveries').where('subscriber_id', '=', living[7]!).execute();
    await expectLedgerMatches();
    const listed = await ledgerCountsOfCampaigns(db, [campaignId]);
    expect(listed.get(campaignId)!.sent).toBeGreaterThan(0);
    expect(listed.get(campaignId)!.failed).toBeGreaterThan(0);
    expect(listed.get(campaignId)!.bounced).toBe(1);
    expect(listed.get(campaignId)!.suppressed).toBeGreaterThan(0);
  });

  it('many small writes fold into few deltas and the counts stay exact', async () => {
    const written = await db
      .selectFrom('deliveries')
      .select('subscriber_id')
      .where('campaign_id', '=', campaignId)
      .where('status', 'in', ['sent', 'failed'])
      .execute();
    expect(written.length).toBeGreaterThan(5);
    // Flip rows one statement at a time, well past the fold threshold.
    for (let round = 0; round < 100; round++) {
      const row = written[round % written.length]!;
      const status = round % 3 === 0 ? 'failed' : 'sent';
      await db
        .updateTable('deliveries')
        .set({ status })
        .where('campaign_id', '=', campaignId)
        .where('subscriber_id', '=', row.subscriber_id)
        .execute();
      await db
        .updateTable('subscribers')
        .set({ status: round % 2 === 0 ? 'unsubscribed' : 'active' })
        .where('id', '=', subscriberIds[9]!)
        .execute();
    }
    await expectLedgerMatches();
    await expectFollowersMatch();
    if (dialect === 'postgres') {
      // The read above folded what had piled up: one row per status left, or close to it.
      const deltas = await sql<{ n: string }>`select count(*) as n from delivery_count_deltas
        where campaign_id = ${campaignId}`.execute(db);
      expect(Number(deltas.rows[0]!.n)).toBeLessThanOrEqual(6);
      const followerDeltas = await sql<{ n: string }>`select count(*) as n
        from topic_follower_deltas`.execute(db);
      expect(Number(followerDeltas.rows[0]!.n)).toBeLessThanOrEqual(10);
    }
    await expectLedgerMatches();
    await expectFollowersMatch();
  });

  it('the audience counted in SQL equals the audience walked page by page, suppressions out', async () => {
    const walked = async (topics: string[]) => {
      let count = 0;
      let after = 0;
      for (;;) {
        const page = await readAudiencePage(db, topics, after, 7);
        if (page.lastId === null) return count;
        count += page.members.filter((member) => !member.suppressed).length;
        after = page.lastId;
      }
    };
    const before = await countAudience(db, ['climate']);
    expect(before).toBe(await walked(['climate']));
    expect(before).toBeGreaterThan(3);
    // Suppressed by address (typed in capitals), and an erased address that subscribes again.
    const climate = await db
      .selectFrom('subscribers as s')
      .innerJoin('subscriptions as f', 'f.subscriber_id', 's.id')
      .select(['s.id', 's.email'])
      .where('f.topic_id', '=', 'climate')
      .where('s.status', '=', 'active')
      .orderBy('s.id')
      .execute();
    await addSuppression(db, climate[0]!.email.toUpperCase(), 'hard-bounce', null, NOW);
    await eraseSubscriber(db, climate[1]!.id, NOW);
    await upsertSubscriber(db, { email: climate[1]!.email, topics: ['climate'], status: 'active' });
    // Suppressed without any follower (counts nothing).
    await addSuppression(db, 'nobody@example.org', 'manual', null, NOW);
    const after = await countAudience(db, ['climate']);
    expect(after).toBe(await walked(['climate']));
    expect(after).toBe(before - 2);
    expect(await countAudience(db, ['china', 'climate'])).toBe(await walked(['china', 'climate']));
    expect(await countAudience(db, [])).toBe(0);
  });

  it('a deleted campaign takes its counts with it', async () => {
    await db.deleteFrom('campaigns').where('id', '=', otherCampaignId).execute();
    const listed = await ledgerCountsOfCampaigns(db, [otherCampaignId]);
    expect(listed.get(otherCampaignId)).toEqual({
      total: 0,
      sent: 0,
      failed: 0,
      bounced: 0,
      suppressed: 0,
      pending: 0,
    });
    if (dialect === 'postgres') {
      const left = await sql<{ n: string | null }>`select sum(delta) as n
        from delivery_count_deltas where campaign_id = ${otherCampaignId}`.execute(db);
      expect(Number(left.rows[0]!.n ?? 0)).toBe(0);
    }
  });
});
