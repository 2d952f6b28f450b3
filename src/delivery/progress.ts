// Campaign-level decisions taken after batches: is it done, is it failing too much.
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { moveCampaign } from '../campaigns/repository.ts';
import { hasUnsentRows } from '../ledger/batches.ts';
import type { Database } from '../store/schema.ts';

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
  if (await hasUnsentRows(db, campaignId)) return false;
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

export interface FailureWindow {
  attempts: number;
  failures: number;
}

export interface AutoPausePolicy {
  /** FAILURE_PAUSE_RATIO: failures / attempts at or above which the campaign pauses. */
  ratio: number;
  /** FAILURE_PAUSE_MIN_SAMPLE: fewer attempts than this never pause. */
  minSample: number;
}

/** Whether a window's failures should pause the campaign (a pure decision). */
export function shouldAutoPause(window: FailureWindow, policy: AutoPausePolicy): boolean {
  return window.attempts >= policy.minSample && window.failures / window.attempts >= policy.ratio;
}

/**
 * The auto-pause rule as one pure decision: null to keep sending, or the reason the campaign
 * is paused with (shown to editors).
 */
export function autoPauseReason(window: FailureWindow, policy: AutoPausePolicy): string | null {
  if (!shouldAutoPause(window, policy)) return null;
  const percent = Math.round((100 * window.failures) / window.attempts);
  return `auto-paused: ${percent}% of the last ${window.attempts} attempts failed (threshold ${Math.round(policy.ratio * 100)}%)`;
}

/**
 * A campaign's recent send rate, read from the failure window's per-minute attempt counters
 * (the ones recordFailureWindow writes, shared by all workers): attempts over the last
 * `minutes` whole minutes plus the current one, divided by the seconds they span (no longer
 * than the campaign has been sending). 0 when nothing was attempted in the window.
 */
export async function recentAttemptRate(
  redis: Redis,
  prefix: string,
  campaignId: number,
  now: Date,
  startedAt: string | null,
  minutes = 2,
): Promise<{ attempts: number; perSecond: number }> {
  const minute = Math.floor(now.getTime() / 60_000);
  const keys = Array.from(
    { length: minutes + 1 },
    (_, i) => `${prefix}:failure-window:${campaignId}:try:${minute - i}`,
  );
  const values = await redis.mget(...keys);
  const attempts = values.reduce((total, value) => total + Number(value ?? 0), 0);
  if (attempts === 0) return { attempts, perSecond: 0 };
  let seconds = minutes * 60 + (now.getTime() % 60_000) / 1000;
  const started = startedAt ? Date.parse(startedAt) : Number.NaN;
  if (Number.isFinite(started)) seconds = Math.min(seconds, (now.getTime() - started) / 1000);
  return { attempts, perSecond: attempts / Math.max(1, seconds) };
}
