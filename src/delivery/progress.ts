// Campaign-level decisions taken after batches: is it done, is it failing too much.
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { moveCampaign } from '../campaigns/repository.ts';
import type { Database } from '../store/schema.ts';

/** Batch numbers of the campaign that still have unsent rows due by `now`. */
export async function pendingBatchNos(
  db: Kysely<Database>,
  campaignId: number,
  now: string,
): Promise<number[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select('batch_no')
    .distinct()
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['pending', 'sending'])
    .where((eb) => eb.or([eb('due_at', 'is', null), eb('due_at', '<=', now)]))
    .orderBy('batch_no')
    .execute();
  return rows.map((row) => row.batch_no);
}

/** Marks a fully prepared campaign `sent` once no row is left to send; returns whether it did. */
export async function finishIfDone(
  db: Kysely<Database>,
  campaignId: number,
  now: string,
): Promise<boolean> {
  const campaign = await db
    .selectFrom('campaigns')
    .select(['status', 'prepared_at'])
    .where('id', '=', campaignId)
    .executeTakeFirst();
  if (campaign?.status !== 'sending' || !campaign.prepared_at) return false;
  const unsent = await db
    .selectFrom('deliveries')
    .select('subscriber_id')
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['pending', 'sending'])
    .limit(1)
    .executeTakeFirst();
  if (unsent) return false;
  return moveCampaign(db, campaignId, ['sending'], 'sent', now);
}

const WINDOW_MINUTES = 5;

/**
 * Adds a batch's attempts and failures to the campaign's recent window (per-minute counters in
 * Redis, shared by all workers) and returns the window's totals.
 */
export async function recordFailureWindow(
  redis: Redis,
  prefix: string,
  campaignId: number,
  attempts: number,
  failures: number,
  now: Date,
): Promise<{ attempts: number; failures: number }> {
  const minute = Math.floor(now.getTime() / 60_000);
  const key = (kind: string, m: number) => `${prefix}:failure-window:${campaignId}:${kind}:${m}`;
  const write = redis.multi();
  write.incrby(key('try', minute), attempts).expire(key('try', minute), WINDOW_MINUTES * 120);
  write.incrby(key('fail', minute), failures).expire(key('fail', minute), WINDOW_MINUTES * 120);
  await write.exec();
  const minutes = Array.from({ length: WINDOW_MINUTES }, (_, i) => minute - i);
  const values = await redis.mget(
    ...minutes.map((m) => key('try', m)),
    ...minutes.map((m) => key('fail', m)),
  );
  const sum = (part: (string | null)[]) => part.reduce((total, v) => total + Number(v ?? 0), 0);
  return {
    attempts: sum(values.slice(0, WINDOW_MINUTES)),
    failures: sum(values.slice(WINDOW_MINUTES)),
  };
}

/** Whether a window's failures should pause the campaign (a pure decision). */
export function shouldAutoPause(
  window: { attempts: number; failures: number },
  policy: { ratio: number; minSample: number },
): boolean {
  return window.attempts >= policy.minSample && window.failures / window.attempts >= policy.ratio;
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
