// Reads of a campaign's ledger by batch: which batch jobs should exist, which are done.
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Batch numbers of the campaign that still have unsent rows due by `now` (of `among` alone, when given). */
export async function pendingBatchNos(
  db: Kysely<Database>,
  campaignId: number,
  now: string,
  among?: readonly number[],
): Promise<number[]> {
  if (among?.length === 0) return [];
  let query = db
    .selectFrom('deliveries')
    .select('batch_no')
    .distinct()
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['pending', 'sending'])
    .where((eb) => eb.or([eb('due_at', 'is', null), eb('due_at', '<=', now)]));
  if (among) query = query.where('batch_no', 'in', among);
  const rows = await query.orderBy('batch_no').execute();
  return rows.map((row) => row.batch_no);
}

/**
 * The earliest instant a pending row of one batch falls due after `now`, or null when none
 * waits (a batch job that fired early sleeps until then instead of finishing).
 */
export async function nextDueInBatch(
  db: Kysely<Database>,
  campaignId: number,
  batchNo: number,
  now: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.min('due_at').as('due_at'))
    .where('campaign_id', '=', campaignId)
    .where('batch_no', '=', batchNo)
    .where('status', '=', 'pending')
    .where('due_at', '>', now)
    .executeTakeFirst();
  return row?.due_at ? String(row.due_at) : null;
}

/** Batches in [from, to] of the campaign that hold pending rows (due or not). */
export async function pendingBatchesBetween(
  db: Kysely<Database>,
  campaignId: number,
  from: number,
  to: number,
): Promise<Set<number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select('batch_no')
    .distinct()
    .where('campaign_id', '=', campaignId)
    .where('batch_no', '>=', from)
    .where('batch_no', '<=', to)
    .where('status', '=', 'pending')
    .execute();
  return new Set(rows.map((row) => row.batch_no));
}

/** Every batch number the campaign's ledger holds, whatever its rows' state. */
export async function allBatchNos(db: Kysely<Database>, campaignId: number): Promise<number[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select('batch_no')
    .distinct()
    .where('campaign_id', '=', campaignId)
    .execute();
  return rows.map((row) => row.batch_no);
}

/** Whether any row of the campaign is still unsent (`pending` or `sending`). */
export async function hasUnsentRows(db: Kysely<Database>, campaignId: number): Promise<boolean> {
  const unsent = await db
    .selectFrom('deliveries')
    .select('subscriber_id')
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['pending', 'sending'])
    .limit(1)
    .executeTakeFirst();
  return unsent !== undefined;
}

export interface FutureBatch {
  batchNo: number;
  dueAt: string;
}

/** Batches of the campaign whose unsent rows fall due after `now`, with their due instant. */
export async function futureBatches(
  db: Kysely<Database>,
  campaignId: number,
  now: string,
): Promise<FutureBatch[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['batch_no', (eb) => eb.fn.min('due_at').as('due_at')])
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['pending', 'sending'])
    .where('due_at', '>', now)
    .groupBy('batch_no')
    .orderBy('batch_no')
    .execute();
  return rows.flatMap((row) =>
    row.due_at ? [{ batchNo: row.batch_no, dueAt: String(row.due_at) }] : [],
  );
}

/**
 * Where an interrupted fan-out resumes: the highest subscriber id and batch number already in
 * the campaign's ledger (0 and 0 for none). Fan-out writes pages in subscriber id order, one
 * statement per page, so everything up to these was written.
 */
export async function fanOutResumePoint(
  db: Kysely<Database>,
  campaignId: number,
): Promise<{ lastSubscriberId: number; lastBatchNo: number }> {
  const resume = await db
    .selectFrom('deliveries')
    .select([
      (eb) => eb.fn.max('subscriber_id').as('last_id'),
      (eb) => eb.fn.max('batch_no').as('last_batch'),
    ])
    .where('campaign_id', '=', campaignId)
    .executeTakeFirst();
  return {
    lastSubscriberId: Number(resume?.last_id ?? 0),
    lastBatchNo: Number(resume?.last_batch ?? 0),
  };
}

/**
 * The rows of a campaign after `afterSubscriberId` (fan-out: the page it has just written,
 * since pages are written in id order): the last subscriber id and how many; null when none.
 */
export async function rowsWrittenAfter(
  db: Kysely<Database>,
  campaignId: number,
  afterSubscriberId: number,
): Promise<{ lastSubscriberId: number; rows: number } | null> {
  const written = await db
    .selectFrom('deliveries')
    .select([(eb) => eb.fn.max('subscriber_id').as('last_id'), (eb) => eb.fn.countAll().as('rows')])
    .where('campaign_id', '=', campaignId)
    .where('subscriber_id', '>', afterSubscriberId)
    .executeTakeFirst();
  return written?.last_id == null
    ? null
    : { lastSubscriberId: Number(written.last_id), rows: Number(written.rows) };
}
