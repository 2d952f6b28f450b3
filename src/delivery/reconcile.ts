// The reconciler: compares the store (source of truth) with the queues and re-creates any job
// that Redis lost, so that losing Redis's data never loses a send.
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { futureBatches, pendingBatchNos } from '../ledger/batches.ts';
import { releaseStaleClaims } from '../ledger/claims.ts';
import type { Logger } from '../log/index.ts';
import type { Database } from '../store/schema.ts';
import { sweepWelcomes } from '../welcome/create.ts';
import { enqueueFutureBatches } from './fanout.ts';
import { batchJobId, campaignJobId, enqueueBatches, enqueueCampaign } from './jobs.ts';
import { finishIfDone } from './progress.ts';
import type { Queues } from './queues.ts';

export interface ReconcileDeps {
  db: Kysely<Database>;
  /** A plain connection to the queues' Redis, for pipelined existence checks. */
  redis: Redis;
  config: Config;
  logger: Logger;
  queues: Queues;
  now: () => Date;
}

export interface ReconcileResult {
  campaignJobs: number;
  batchJobs: number;
  finished: number;
}

/** States in which a job still exists and will run (or is running). */
const LIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** One reconciler pass over every sending and scheduled campaign; returns what it re-created. */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileResult> {
  const { db, queues, config } = deps;
  const now = deps.now();
  const result: ReconcileResult = { campaignJobs: 0, batchJobs: 0, finished: 0 };
  const staleBefore = new Date(now.getTime() - config.CLAIM_STALE_MS).toISOString();
  await releaseStaleClaims(db, staleBefore, now.toISOString());
  await sweepWelcomes(db, now);
  const campaigns = await db
    .selectFrom('campaigns')
    .select(['id', 'status', 'prepared_at', 'scheduled_at'])
    .where('status', 'in', ['sending', 'scheduled'])
    .execute();
  for (const campaign of campaigns) {
    if (campaign.status === 'scheduled' || !campaign.prepared_at) {
      const job = await queues.campaigns.getJob(campaignJobId(campaign.id));
      const state = job ? await job.getState() : 'missing';
      if (LIVE.has(state)) {
        if (job && state === 'delayed' && campaign.status === 'scheduled' && campaign.scheduled_at)
          result.campaignJobs += await moveLateJob(deps, job, campaign.id, campaign.scheduled_at);
        continue;
      }
      if (job && state === 'failed') await job.retry('failed', { resetAttemptsMade: true });
      else {
        if (job) await job.remove();
        const delay = campaign.scheduled_at ? Date.parse(campaign.scheduled_at) - now.getTime() : 0;
        await enqueueCampaign(queues, campaign.id, campaign.status === 'scheduled' ? delay : 0);
      }
      result.campaignJobs += 1;
      continue;
    }
    result.batchJobs += await requeueFutureBatches(deps, campaign.id, now);
    const batchNos = await pendingBatchNos(db, campaign.id, now.toISOString());
    if (batchNos.length === 0) {
      if (await finishIfDone(db, campaign.id, now.toISOString())) result.finished += 1;
      continue;
    }
    // One pipelined EXISTS per batch job key: cheap even for thousands of batches.
    const pipeline = deps.redis.pipeline();
    for (const batchNo of batchNos)
      pipeline.exists(queues.deliveries.toKey(batchJobId(campaign.id, batchNo)));
    const exists = (await pipeline.exec()) ?? [];
    const missing: number[] = [];
    for (const [i, batchNo] of batchNos.entries()) {
      if (Number(exists[i]?.[1] ?? 0) === 1) {
        const job = await queues.deliveries.getJob(batchJobId(campaign.id, batchNo));
        if (job && (await job.getState()) === 'failed') {
          await job.retry('failed', { resetAttemptsMade: true });
          result.batchJobs += 1;
        }
        continue;
      }
      missing.push(batchNo);
    }
    // A batch whose job finished (and was removed) between the ledger read and the EXISTS is
    // missing too: read the ledger again for those alone, after the EXISTS. Without this a
    // large campaign had a few finished batches re-queued at every pass (they found nothing
    // to send, but each pass warned).
    const lost = await pendingBatchNos(db, campaign.id, now.toISOString(), missing);
    await enqueueBatches(queues.deliveries, config, campaign.id, lost);
    result.batchJobs += lost.length;
  }
  if (result.campaignJobs + result.batchJobs > 0) {
    deps.logger.warn({ ...result }, 'delivery.reconcile.requeued');
  }
  return result;
}

/**
 * Moves a scheduled campaign's delayed job that would fire later than its stored time (a
 * reschedule raced a reconciler pass that put back the old job); returns 1 if it did. One that
 * fires early is harmless: the fan-out refuses to start before scheduled_at.
 */
async function moveLateJob(
  deps: ReconcileDeps,
  job: Job,
  campaignId: number,
  scheduledAt: string,
): Promise<number> {
  const delay = Date.parse(scheduledAt) - deps.now().getTime();
  // BullMQ measures delays on the real clock; the stored time is on deps.now's.
  if (job.timestamp + job.delay <= Date.now() + delay + 1_000) return 0;
  try {
    await job.remove();
  } catch {
    return 0; // Taken by a worker meanwhile.
  }
  await enqueueCampaign(deps.queues, campaignId, delay);
  return 1;
}

/**
 * Re-creates the delayed jobs of batches that fall due later (local-time schedules) if Redis
 * lost them; returns how many it re-created.
 */
async function requeueFutureBatches(
  deps: ReconcileDeps,
  campaignId: number,
  now: Date,
): Promise<number> {
  const future = await futureBatches(deps.db, campaignId, now.toISOString());
  if (future.length === 0) return 0;
  const pipeline = deps.redis.pipeline();
  for (const batch of future)
    pipeline.exists(deps.queues.deliveries.toKey(batchJobId(campaignId, batch.batchNo)));
  const exists = (await pipeline.exec()) ?? [];
  const missing = future.filter((_, i) => Number(exists[i]?.[1] ?? 0) !== 1);
  await enqueueFutureBatches(deps.queues.deliveries, deps.config, campaignId, missing, now);
  return missing.length;
}

/** Makes sure the reconciler's job scheduler exists (idempotent; Redis may have lost it). */
export async function ensureReconcileScheduler(queues: Queues, everyMs: number): Promise<void> {
  await queues.reconcile.upsertJobScheduler(
    'reconcile',
    { every: everyMs },
    { name: 'reconcile', opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
}
