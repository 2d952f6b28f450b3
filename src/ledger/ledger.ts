// The delivery ledger: one row per campaign × recipient, written and read in batches.
import { type Kysely, sql } from 'kysely';
import { keepsCounts, keptLedgerCounts } from '../store/counts.ts';
import { chunk } from '../store/db.ts';
import { type Database, DELIVERY_STATUSES, type DeliveryStatus } from '../store/schema.ts';

const KNOWN_STATUSES: ReadonlySet<string> = new Set(DELIVERY_STATUSES);
function isDeliveryStatus(status: string): status is DeliveryStatus {
  return KNOWN_STATUSES.has(status);
}

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

/**
 * Counts a campaign's ledger rows by status (the only source of a campaign's progress): on
 * PostgreSQL from the counts its triggers keep in the same transactions (src/store/counts.ts),
 * on SQLite by a grouped count.
 */
export async function countLedger(db: Kysely<Database>, campaignId: number): Promise<LedgerCounts> {
  const rows = keepsCounts(db)
    ? await keptLedgerCounts(db, [campaignId])
    : await db
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
    if (!isDeliveryStatus(row.status)) continue;
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

/**
 * Records many recipients' outcomes: one UPDATE per status (a CASE carries per-row replies, such
 * as the queue ids real SMTP servers put in their 250 replies), in a transaction only when
 * there is more than one statement.
 */
export async function recordOutcomes(
  db: Kysely<Database>,
  campaignId: number,
  outcomes: readonly LedgerOutcome[],
  now: string,
  /** When given, only rows still under this claim are written (a released row is not). */
  claim?: string,
): Promise<void> {
  await recordOutcomeGroups(db, [{ campaignId, claim, outcomes }], now);
}

/** Outcomes of one campaign's rows, optionally only those still under one claim. */
export interface OutcomeGroup {
  campaignId: number;
  claim?: string;
  outcomes: readonly LedgerOutcome[];
}

/**
 * Records the outcomes of several groups (a delivery process's batches) in one transaction, as
 * recordOutcomes does for one: a commit per statement wrote the same ledger pages to SQLite's
 * WAL again for every batch.
 */
export async function recordOutcomeGroups(
  db: Kysely<Database>,
  groups: readonly OutcomeGroup[],
  now: string,
): Promise<void> {
  const statements: Array<{ campaignId: number; claim?: string; part: LedgerOutcome[] }> = [];
  for (const { campaignId, claim, outcomes } of groups) {
    const byStatus = new Map<string, LedgerOutcome[]>();
    for (const outcome of outcomes) {
      const key = `${outcome.status}:${outcome.attempted ? 1 : 0}`;
      const group = byStatus.get(key);
      if (group) group.push(outcome);
      else byStatus.set(key, [outcome]);
    }
    for (const group of byStatus.values())
      for (const part of chunk(group, UPDATE_CHUNK)) statements.push({ campaignId, claim, part });
  }
  if (statements.length === 0) return;
  const write = async (executor: Kysely<Database>) => {
    for (const { campaignId, claim, part } of statements)
      await updateOutcomes(executor, campaignId, part, now, claim);
  };
  // A single UPDATE is atomic on its own; BEGIN/COMMIT would only add round trips.
  if (statements.length === 1) await write(db);
  else await db.transaction().execute(write);
}

/**
 * Ledger states an outcome write never leaves: a bounce report is the final word on a row.
 * (A complaint leaves the row `sent`, which is what it was: the message was delivered; the
 * complaint lives on the subscriber and the suppression list.)
 */
const FINAL_STATUSES: ReadonlySet<DeliveryStatus> = new Set<DeliveryStatus>(['bounced']);

/** Rows per outcome UPDATE: 3 parameters a row stays below both dialects' limits. */
const UPDATE_CHUNK = 1_000;

/** One UPDATE for outcomes sharing a status and `attempted`; replies may differ per row. */
async function updateOutcomes(
  db: Kysely<Database>,
  campaignId: number,
  part: readonly LedgerOutcome[],
  now: string,
  claim?: string,
): Promise<void> {
  const first = part[0]!;
  const sameReply = part.every((outcome) => outcome.reply === first.reply);
  const reply = sameReply
    ? first.reply
    : sql<string | null>`case subscriber_id ${sql.join(
        part.map((outcome) => sql`when ${outcome.subscriberId} then ${outcome.reply}`),
        sql` `,
      )} end`;
  await db
    .updateTable('deliveries')
    .set((eb) => ({
      status: first.status,
      last_reply: reply,
      updated_at: now,
      sent_at: first.status === 'sent' ? now : null,
      attempts: first.attempted ? eb('attempts', '+', 1) : eb.ref('attempts'),
    }))
    .where('campaign_id', '=', campaignId)
    .where(
      'subscriber_id',
      'in',
      part.map((outcome) => outcome.subscriberId),
    )
    // The claim is cleared only by a release: a row released meanwhile is not overwritten.
    .$if(claim !== undefined, (qb) => qb.where('claim', '=', claim!))
    // A DSN can land between the send and this (grouped, later) write: a row the bounce
    // processing already marked bounced stays bounced whatever the send's own outcome was.
    .$if(!FINAL_STATUSES.has(first.status), (qb) =>
      qb.where('status', 'not in', [...FINAL_STATUSES]),
    )
    .execute();
}

/**
 * Marks the campaign's row for this subscriber `bounced` with the bounce's reply (a DSN or a
 * 5xx at send time): the final word on the row, whatever an outcome write does after it.
 */
export async function markBounced(
  db: Kysely<Database>,
  campaignId: number,
  subscriberId: number,
  reply: string,
  now: string,
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'bounced', last_reply: reply.slice(0, 1000), updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('subscriber_id', '=', subscriberId)
    .execute();
}
