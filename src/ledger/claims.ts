// The claim protocol on ledger rows: a batch attempt claims its rows (`sending` + its claim),
// keeps them alive with a heartbeat, and releases what it did not send. See
// src/delivery/README.md ("The ledger row's life").
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** One batch job's slice of the ledger: the rows a job `b-<campaign>-<batch>` sends. */
export interface LedgerBatch {
  campaignId: number;
  batchNo: number;
}

/** A claimed row with what sending needs of its subscriber. */
export interface ClaimedRow {
  subscriberId: number;
  /** The address as typed (see claimBatch). */
  email: string;
  name: string | null;
  /** Whether the subscriber is still `active` (others are recorded `suppressed`, not sent). */
  active: boolean;
  tokenKey: string;
}

/**
 * Claims the batch's rows that are due and pending (or already under this same claim: a re-run
 * of the job takes its rows back), reads them with their subscribers in subscriber order, and
 * marks `suppressed` the claimed rows whose subscriber was erased. Returns the claimed rows.
 */
export async function claimBatch(
  db: Kysely<Database>,
  batch: LedgerBatch,
  claim: string,
  now: string,
): Promise<ClaimedRow[]> {
  await db
    .updateTable('deliveries')
    .set({ status: 'sending', claim, updated_at: now })
    .where('campaign_id', '=', batch.campaignId)
    .where('batch_no', '=', batch.batchNo)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'pending'),
        eb.and([eb('status', '=', 'sending'), eb('claim', '=', claim)]),
      ]),
    )
    .where((eb) => eb.or([eb('due_at', 'is', null), eb('due_at', '<=', now)]))
    .execute();
  const rows = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['d.subscriber_id', 's.name', 's.status', 's.token_key'])
    // The address as typed (identity is its lower-cased form): it goes in the To header and,
    // as RCPT TO, in the envelope too, since a receiving server may treat the local part's
    // case as significant (RFC 5321 §2.4) and the typed form is the one its owner gave.
    .select((eb) => eb.fn.coalesce('s.email_display', 's.email').as('email'))
    .where('d.campaign_id', '=', batch.campaignId)
    .where('d.batch_no', '=', batch.batchNo)
    .where('d.status', '=', 'sending')
    .where('d.claim', '=', claim)
    .orderBy('d.subscriber_id')
    .execute();
  // A ledger row whose subscriber was erased has no join partner: it can never be sent.
  await db
    .updateTable('deliveries')
    .set({ status: 'suppressed', claim: null, updated_at: now })
    .where('campaign_id', '=', batch.campaignId)
    .where('batch_no', '=', batch.batchNo)
    .where('status', '=', 'sending')
    .where('claim', '=', claim)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('subscribers as s')
            .select('s.id')
            .whereRef('s.id', '=', 'deliveries.subscriber_id'),
        ),
      ),
    )
    .execute();
  return rows.map((row) => ({
    subscriberId: row.subscriber_id,
    email: row.email,
    name: row.name,
    active: row.status === 'active',
    tokenKey: row.token_key,
  }));
}

/**
 * Heartbeat: gives the rows still under this claim a fresh `updated_at`, so the reconciler's
 * stale-claim release (releaseStaleClaims) leaves them alone while their worker lives.
 */
export async function touchClaim(
  db: Kysely<Database>,
  campaignId: number,
  claim: string,
  now: string,
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'sending')
    .where('claim', '=', claim)
    .execute();
}

/**
 * Puts rows still under this claim back to `pending` for the next taker, except those in
 * `attempted`: a row whose message left keeps its claim even if its outcome was not written.
 */
export async function releaseClaim(
  db: Kysely<Database>,
  campaignId: number,
  claim: string,
  now: string,
  attempted: readonly number[],
): Promise<void> {
  let update = db
    .updateTable('deliveries')
    .set({ status: 'pending', claim: null, updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'sending')
    .where('claim', '=', claim);
  if (attempted.length > 0) update = update.where('subscriber_id', 'not in', attempted);
  await update.execute();
}

/**
 * Puts rows back to pending that were claimed for sending by a worker that stopped renewing
 * them (it crashed with Redis's job gone too); returns how many. Their messages may have
 * left: that is the in-flight allowance of the delivery guarantee.
 */
export async function releaseStaleClaims(
  db: Kysely<Database>,
  staleBefore: string,
  now: string,
): Promise<number> {
  const result = await db
    .updateTable('deliveries')
    .set({ status: 'pending', claim: null, updated_at: now })
    .where('status', '=', 'sending')
    .where('updated_at', '<', staleBefore)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
