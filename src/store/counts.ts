// Reads of the counts PostgreSQL keeps by trigger (migration 0014, src/store/migrations-counts.ts):
// a count is the sum of its deltas. Reading folds a key's deltas into one row once they pile
// up, so a read stays a few index entries however many statements wrote since.
import { type Kysely, sql } from 'kysely';
import { isPostgres } from './paging.ts';

/** Whether this store keeps counts by trigger (PostgreSQL); SQLite counts live. */
export function keepsCounts<DB>(db: Kysely<DB>): boolean {
  return isPostgres(db);
}

/** Delta rows a key may gather before a read folds them. */
const FOLD_AFTER_ROWS = 64;

/** One campaign's ledger rows by status, from the kept deltas (PostgreSQL only). */
export async function keptLedgerCounts<DB>(
  db: Kysely<DB>,
  campaignIds: readonly number[],
): Promise<Array<{ campaignId: number; status: string; n: number }>> {
  const rows = await sql<{ campaign_id: number; status: string; n: string; deltas: string }>`
    select campaign_id, status, sum(delta) as n, count(*) as deltas
    from delivery_count_deltas
    where campaign_id in (${sql.join(campaignIds)})
    group by campaign_id, status`.execute(db);
  const deltasPerCampaign = new Map<number, number>();
  for (const row of rows.rows) {
    const id = Number(row.campaign_id);
    deltasPerCampaign.set(id, (deltasPerCampaign.get(id) ?? 0) + Number(row.deltas));
  }
  const crowded = [...deltasPerCampaign].filter(([, n]) => n > FOLD_AFTER_ROWS).map(([id]) => id);
  if (crowded.length > 0) await foldLedgerDeltas(db, crowded);
  return rows.rows
    .map((row) => ({ campaignId: Number(row.campaign_id), status: row.status, n: Number(row.n) }))
    .filter((row) => row.n !== 0);
}

/** Each topic's active followers, from the kept deltas (PostgreSQL only). */
export async function keptFollowerCounts<DB>(db: Kysely<DB>): Promise<Map<string, number>> {
  const rows = await sql<{ topic_id: string; n: string; deltas: string }>`
    select topic_id, sum(delta) as n, count(*) as deltas
    from topic_follower_deltas group by topic_id`.execute(db);
  if (rows.rows.some((row) => Number(row.deltas) > FOLD_AFTER_ROWS)) await foldFollowerDeltas(db);
  return new Map(rows.rows.map((row) => [row.topic_id, Number(row.n)]));
}

// A fold deletes the deltas its snapshot sees and inserts their sum in one statement: deltas
// written meanwhile are neither deleted nor counted twice, and sums of zero are dropped. The
// delta tables have no foreign keys and no triggers, so a fold has nothing to fail on.
async function foldLedgerDeltas<DB>(db: Kysely<DB>, campaignIds: number[]): Promise<void> {
  await sql`with gone as (
      delete from delivery_count_deltas where campaign_id in (${sql.join(campaignIds)})
      returning campaign_id, status, delta)
    insert into delivery_count_deltas (campaign_id, status, delta)
    select campaign_id, status, sum(delta) from gone
    group by campaign_id, status having sum(delta) <> 0`.execute(db);
}

async function foldFollowerDeltas<DB>(db: Kysely<DB>): Promise<void> {
  await sql`with gone as (
      delete from topic_follower_deltas returning topic_id, delta)
    insert into topic_follower_deltas (topic_id, delta)
    select topic_id, sum(delta) from gone group by topic_id having sum(delta) <> 0`.execute(db);
}
