import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutcomeWriter } from '../src/delivery/outcome-writer.ts';
import { countLedger, insertLedgerRows } from '../src/ledger/ledger.ts';
import { insertCampaign } from './helpers/rows.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const CLAIM = 'b-1-1@1';

describe.each(DIALECTS)('outcome writer on %s', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  async function campaignWithRows(count: number): Promise<number> {
    const now = new Date().toISOString();
    const id = await insertCampaign(t.store.db, { status: 'sending' });
    await insertLedgerRows(
      t.store.db,
      id,
      Array.from({ length: count }, (_, i) => ({ subscriberId: i + 1 })),
      now,
    );
    // As a batch attempt does: the rows are claimed before their outcomes are written.
    await t.store.db
      .updateTable('deliveries')
      .set({ status: 'sending', claim: CLAIM })
      .where('campaign_id', '=', id)
      .execute();
    return id;
  }

  it('writes the outcomes of several campaigns together, each row with its own reply', async () => {
    const first = await campaignWithRows(3);
    const second = await campaignWithRows(2);
    const writer = createOutcomeWriter(t.store.db, () => new Date());
    const written = [
      writer.record(first, CLAIM, {
        subscriberId: 1,
        status: 'sent',
        reply: '250 id=a',
        attempted: true,
      }),
      writer.record(first, CLAIM, {
        subscriberId: 2,
        status: 'sent',
        reply: '250 id=b',
        attempted: true,
      }),
      writer.record(first, CLAIM, {
        subscriberId: 3,
        status: 'bounced',
        reply: '550 unknown',
        attempted: true,
      }),
      writer.record(second, CLAIM, {
        subscriberId: 1,
        status: 'pending',
        reply: '451 later',
        attempted: true,
      }),
    ];
    // Nothing is written before the cycle ends.
    expect((await countLedger(t.store.db, first)).sent).toBe(0);
    await Promise.all(written);
    expect(await countLedger(t.store.db, first)).toMatchObject({ sent: 2, bounced: 1, pending: 0 });
    expect(await countLedger(t.store.db, second)).toMatchObject({ pending: 1, sending: 1 });
    const rows = await t.store.db
      .selectFrom('deliveries')
      .select(['campaign_id', 'subscriber_id', 'last_reply', 'attempts'])
      .where('campaign_id', 'in', [first, second])
      .orderBy('campaign_id')
      .orderBy('subscriber_id')
      .execute();
    expect(rows.map((r) => r.last_reply)).toEqual([
      '250 id=a',
      '250 id=b',
      '550 unknown',
      '451 later',
      null,
    ]);
    expect(rows.map((r) => r.attempts)).toEqual([1, 1, 1, 1, 0]);
  });

  it('does not write over a row that was released from the claim meanwhile', async () => {
    const campaign = await campaignWithRows(1);
    // The reconciler released the row (its worker went silent) and another attempt took it.
    await t.store.db
      .updateTable('deliveries')
      .set({ claim: 'b-1-1@2' })
      .where('campaign_id', '=', campaign)
      .execute();
    const writer = createOutcomeWriter(t.store.db, () => new Date());
    await writer.record(campaign, CLAIM, {
      subscriberId: 1,
      status: 'failed',
      reply: '451',
      attempted: true,
    });
    expect(await countLedger(t.store.db, campaign)).toMatchObject({ failed: 0, sending: 1 });
  });

  it('rejects the waiting batches when the write fails', async () => {
    const writer = createOutcomeWriter(t.store.db, () => new Date(Number.NaN));
    const pending = writer.record(1, CLAIM, {
      subscriberId: 1,
      status: 'sent',
      reply: null,
      attempted: true,
    });
    await expect(writer.flush()).rejects.toThrow();
    await expect(pending).rejects.toThrow();
  });
});
