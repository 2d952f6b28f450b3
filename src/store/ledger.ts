// The delivery ledger: one row per campaign × recipient, written and read in batches.
import type { Kysely } from 'kysely';
import { chunk } from './db.ts';
import type { Database, DeliveryStatus } from './schema.ts';

/** Rows per INSERT: 6 columns × 1,000 stays far below both dialects' parameter limits. */
const INSERT_CHUNK = 1_000;

export interface LedgerEntry {
  subscriberId: number;
  /** The batch job that will send this row. */
  batchNo?: number;
  dueAt?: string | null;
  /** `suppressed` records a follower left out for a suppressed address. Default `pending`. */
  status?: 'pending' | 'suppressed';
}

/**
 * Adds pending rows for the given recipients of a campaign in one transaction; rows that
 * already exist are left as they are, so a retried fan-out writes nothing twice.
 */
export async function insertLedgerRows(
  db: Kysely<Database>,
  campaignId: number,
  entries: readonly LedgerEntry[],
  now: string,
): Promise<void> {
  if (entries.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const part of chunk(entries, INSERT_CHUNK)) {
      await trx
        .insertInto('deliveries')
        .values(
          part.map((entry) => ({
            campaign_id: campaignId,
            subscriber_id: entry.subscriberId,
            status: entry.status ?? 'pending',
            due_at: entry.dueAt ?? null,
            batch_no: entry.batchNo ?? 0,
            updated_at: now,
          })),
        )
        .onConflict((oc) => oc.columns(['campaign_id', 'subscriber_id']).doNothing())
        .execute();
    }
  });
}

export type LedgerCounts = Record<DeliveryStatus, number> & { total: number };

/** Counts a campaign's ledger rows by status (the only source of a campaign's progress). */
export async function countLedger(db: Kysely<Database>, campaignId: number): Promise<LedgerCounts> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('campaign_id', '=', campaignId)
    .groupBy('status')
    .execute();
  const counts: LedgerCounts = {
    total: 0,
    pending: 0,
    sending: 0,
    sent: 0,
    failed: 0,
    bounced: 0,
    suppressed: 0,
  };
  for (const row of rows) {
    counts[row.status] = Number(row.n);
    counts.total += Number(row.n);
  }
  return counts;
}

export interface LedgerOutcome {
  subscriberId: number;
  status: DeliveryStatus;
  reply: string | null;
  /** Whether this outcome consumed a send attempt. */
  attempted: boolean;
}

/** Records many recipients' outcomes in one transaction (grouped per status and reply). */
export async function recordOutcomes(
  db: Kysely<Database>,
  campaignId: number,
  outcomes: readonly LedgerOutcome[],
  now: string,
): Promise<void> {
  if (outcomes.length === 0) return;
  const groups = new Map<string, { outcome: LedgerOutcome; ids: number[] }>();
  for (const outcome of outcomes) {
    const key = JSON.stringify([outcome.status, outcome.reply, outcome.attempted]);
    const group = groups.get(key) ?? { outcome, ids: [] };
    group.ids.push(outcome.subscriberId);
    groups.set(key, group);
  }
  await db.transaction().execute(async (trx) => {
    for (const { outcome, ids } of groups.values()) {
      for (const part of chunk(ids, INSERT_CHUNK)) {
        await trx
          .updateTable('deliveries')
          .set((eb) => ({
            status: outcome.status,
            last_reply: outcome.reply,
            updated_at: now,
            sent_at: outcome.status === 'sent' ? now : null,
            attempts: outcome.attempted ? eb('attempts', '+', 1) : eb.ref('attempts'),
          }))
          .where('campaign_id', '=', campaignId)
          .where('subscriber_id', 'in', part)
          .execute();
      }
    }
  });
}
