// Set-based inserts of ledger rows: a fan-out page, a digest's recipients, a welcome mail's one
// row. Rows already there are kept as they are (primary key campaign × subscriber).
import { type Expression, type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely';
import type { Database } from '../store/schema.ts';

/** The columns of a new ledger row, as a SELECT feeding an INSERT produces them. */
export interface NewLedgerRow {
  campaign_id: number;
  subscriber_id: number;
  status: 'pending' | 'suppressed';
  due_at: string | null;
  batch_no: number;
  updated_at: string;
}

/**
 * Writes the rows a SELECT produces (fan-out: one page of the audience, suppressed addresses
 * already `suppressed`) with one INSERT … SELECT; rows already there are kept, so a re-run
 * of the page writes nothing twice.
 */
export async function insertSelectedRows(
  db: Kysely<Database>,
  rows: Expression<NewLedgerRow>,
): Promise<void> {
  await db
    .insertInto('deliveries')
    .columns(['campaign_id', 'subscriber_id', 'status', 'due_at', 'batch_no', 'updated_at'])
    .expression(rows)
    .onConflict((oc) => oc.columns(['campaign_id', 'subscriber_id']).doNothing())
    .execute();
}

/** Inside the welcome's transaction: the one pending row of a welcome mail (batch 1). */
export async function insertWelcomeRow(
  trx: Kysely<Database>,
  campaignId: number,
  subscriberId: number,
  now: string,
): Promise<void> {
  await trx
    .insertInto('deliveries')
    .values({
      campaign_id: campaignId,
      subscriber_id: subscriberId,
      status: 'pending',
      batch_no: 1,
      updated_at: now,
    })
    .execute();
}

export interface TakeDigestRecipients {
  campaignId: number;
  /** Subscriber ids (at most PAGE) sharing one period start. */
  ids: number[];
  periodStart: string;
  at: string;
  now: string;
  /** Recipients the campaign already has: its rows continue their batch numbering. */
  alreadyGiven: number;
  batchSize: number;
}

/**
 * Marks the given subscribers still without this period's digest as given (last_digest_at)
 * and writes a pending ledger row for each, numbered into batches of `batchSize` in id order
 * after the `alreadyGiven` rows; one statement per step, no rows through Node. Returns how many
 * were taken. PostgreSQL does both in one statement (an UPDATE … RETURNING feeding the INSERT),
 * so a concurrent tick blocked on the same rows finds them taken; SQLite runs the INSERT and
 * then the UPDATE under the transaction's write lock.
 */
export async function takeDigestRecipients(
  trx: Kysely<Database>,
  take: TakeDigestRecipients,
): Promise<number> {
  const stillDue = sql`(last_digest_at is null or last_digest_at < ${take.periodStart})`;
  const batchNo = (id: RawBuilder<unknown>) =>
    sql`(cast(${take.alreadyGiven} as integer) + row_number() over (order by ${id}) - 1) / cast(${take.batchSize} as integer) + 1`;
  const ids = sql.join(take.ids);
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    const result = await sql`
      with taken as (
        update subscribers set last_digest_at = ${take.at}
        where id in (${ids}) and ${stillDue}
        returning id
      )
      insert into deliveries (campaign_id, subscriber_id, status, batch_no, updated_at)
      select cast(${take.campaignId} as integer), id, 'pending', ${batchNo(sql.ref('id'))}, cast(${take.now} as text)
      from taken`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  }
  const inserted = await sql`
    insert into deliveries (campaign_id, subscriber_id, status, batch_no, updated_at)
    select ${take.campaignId}, id, 'pending', ${batchNo(sql.ref('id'))}, ${take.now}
    from subscribers where id in (${ids}) and ${stillDue}`.execute(trx);
  await sql`
    update subscribers set last_digest_at = ${take.at}
    where id in (${ids}) and ${stillDue}`.execute(trx);
  return Number(inserted.numAffectedRows ?? 0);
}

export interface TakeDigestPage {
  /**
   * The page's members still due, one row each: subscriber `id`, the `campaign_id` whose digest
   * they get and how many rows that campaign already has (`given`: its batch numbering
   * continues after them).
   */
  members: Expression<{ id: number; campaign_id: number; given: number }>;
  /** The campaigns the members go to, and the page's id range (SQLite finds its rows by them). */
  campaignIds: readonly number[];
  afterId: number;
  lastId: number;
  periodStart: string;
  at: string;
  now: string;
  batchSize: number;
}

/**
 * One page of a digest tick, set-based: marks the members still without this period's digest
 * as given (last_digest_at) and writes a pending ledger row for each in its campaign, numbered
 * into batches of `batchSize` in id order per campaign. Returns how many each campaign took.
 * PostgreSQL does it in one statement (the UPDATE … RETURNING feeds the INSERT, so a concurrent
 * tick blocked on the same rows finds them taken); SQLite runs the INSERT … SELECT, counts and
 * marks what it wrote, all under the transaction's write lock.
 */
export async function takeDigestPage(
  trx: Kysely<Database>,
  take: TakeDigestPage,
): Promise<Map<number, number>> {
  const taken = new Map<number, number>();
  if (take.campaignIds.length === 0) return taken;
  const stillDue = sql`(last_digest_at is null or last_digest_at < ${take.periodStart})`;
  const batchNo = sql`(c.given + row_number() over (partition by c.campaign_id order by c.id) - 1) / cast(${take.batchSize} as integer) + 1`;
  let counts: Array<{ campaign_id: number; taken: number | string }>;
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    const result = await sql<{ campaign_id: number; taken: string }>`
      with chosen as (${take.members}),
      marked as (
        update subscribers set last_digest_at = ${take.at}
        from chosen c where subscribers.id = c.id and ${stillDue}
        returning c.id, c.campaign_id, c.given
      ),
      written as (
        insert into deliveries (campaign_id, subscriber_id, status, batch_no, updated_at)
        select c.campaign_id, c.id, 'pending', ${batchNo}, cast(${take.now} as text)
        from marked c
        returning campaign_id
      )
      select campaign_id, count(*) as taken from written group by campaign_id`.execute(trx);
    counts = result.rows;
  } else {
    const campaigns = sql.join([...take.campaignIds]);
    // The rows this page writes are the only ones of these campaigns in its id range whose
    // subscriber is still due (earlier pages and combinations marked theirs).
    const written = sql`select d.campaign_id, d.subscriber_id from deliveries d
      where d.campaign_id in (${campaigns}) and d.subscriber_id > ${take.afterId}
        and d.subscriber_id <= ${take.lastId}`;
    await sql`
      insert into deliveries (campaign_id, subscriber_id, status, batch_no, updated_at)
      select c.campaign_id, c.id, 'pending', ${batchNo}, ${take.now}
      from (${take.members}) c`.execute(trx);
    const result = await sql<{ campaign_id: number; taken: number }>`
      select w.campaign_id, count(*) as taken from (${written}) w
      join subscribers on subscribers.id = w.subscriber_id where ${stillDue}
      group by w.campaign_id`.execute(trx);
    counts = result.rows;
    await sql`
      update subscribers set last_digest_at = ${take.at}
      where id in (select w.subscriber_id from (${written}) w) and ${stillDue}`.execute(trx);
  }
  for (const row of counts) taken.set(Number(row.campaign_id), Number(row.taken));
  return taken;
}
