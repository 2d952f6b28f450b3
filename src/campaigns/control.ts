// Editor actions on a campaign: send now, schedule, pause, resume, cancel. Each is a guarded
// state change in the store followed by the queue work it implies.
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import {
  batchJobId,
  campaignJobId,
  enqueueBatches,
  enqueueCampaign,
  removeWaitingCampaignJob,
} from '../delivery/jobs.ts';
import type { Queues } from '../delivery/queues.ts';
import { allBatchNos, pendingBatchNos } from '../ledger/batches.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';
import { audienceZones } from './audience.ts';
import { type Campaign, type CampaignAction, transitions } from './model.ts';
import { CampaignError, moveCampaign, requireCampaign } from './repository.ts';
import { firstLocalOccurrence, formatLocalTime, parseLocalTime } from './schedule.ts';

export interface ControlDeps {
  db: Kysely<Database>;
  config: Config;
  queues: Queues;
  now: () => Date;
}

function refuse(campaign: Campaign, action: CampaignAction): never {
  throw new CampaignError(
    `cannot ${action} campaign ${campaign.id}: it is ${campaign.status} (allowed from ${transitions[action].join(', ')})`,
    'status',
    409,
  );
}

/** Starts sending now. */
export async function sendCampaign(deps: ControlDeps, id: number): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  const now = deps.now().toISOString();
  if (
    !(await moveCampaign(deps.db, id, transitions.send, 'sending', now, {
      startedAt: now,
      scheduledAt: null,
      localTime: null,
    }))
  ) {
    refuse(campaign, 'send');
  }
  await removeWaitingCampaignJob(deps.queues, id);
  await enqueueCampaign(deps.queues, id);
  return requireCampaign(deps.db, id);
}

/** Schedules the send for an instant in the future (a delayed job; the store keeps the time). */
export async function scheduleCampaign(deps: ControlDeps, id: number, at: Date): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  const now = deps.now();
  if (Number.isNaN(at.getTime())) throw new CampaignError('the time is not a valid instant', 'at');
  if (at.getTime() <= now.getTime()) {
    throw new CampaignError(`the time ${at.toISOString()} is in the past`, 'at');
  }
  if (
    !(await moveCampaign(deps.db, id, transitions.schedule, 'scheduled', now.toISOString(), {
      scheduledAt: at.toISOString(),
      localTime: null,
    }))
  ) {
    refuse(campaign, 'schedule');
  }
  await placeCampaignJob(deps, id, at, now);
  return requireCampaign(deps.db, id);
}

/**
 * Schedules the send at wall-clock HH:MM in each subscriber's own zone (src/campaigns/
 * schedule.ts states the rules). The campaign's job runs at the first zone's instant (kept as
 * scheduled_at, the planning anchor); the fan-out then gives every ledger row its due instant
 * and each group its delayed batch. Until that first instant it can be rescheduled or
 * unscheduled like any scheduled campaign.
 */
export async function scheduleCampaignAtLocalTime(
  deps: ControlDeps,
  id: number,
  localTime: string,
): Promise<Campaign> {
  const time = parseLocalTime(localTime);
  if (!time) {
    throw new CampaignError(
      `the local time "${localTime}" is not a 24-hour time HH:MM (e.g. 07:00)`,
      'localTime',
    );
  }
  const campaign = await requireCampaign(deps.db, id);
  const now = deps.now();
  const first = firstLocalOccurrence(
    time,
    await audienceZones(deps.db, campaign.audienceTopics),
    now,
  );
  if (
    !(await moveCampaign(deps.db, id, transitions.schedule, 'scheduled', now.toISOString(), {
      scheduledAt: first.toISOString(),
      localTime: formatLocalTime(time),
    }))
  ) {
    refuse(campaign, 'schedule');
  }
  await placeCampaignJob(deps, id, first, now);
  return requireCampaign(deps.db, id);
}

/**
 * Replaces the campaign's delayed job with one that fires at `at`, and checks that it took: a
 * reconciler pass between the removal and the add may have put back a job for the old time
 * under the same id (the reconciler also moves a delayed job that is later than scheduled_at).
 */
async function placeCampaignJob(deps: ControlDeps, id: number, at: Date, now: Date) {
  const delay = at.getTime() - now.getTime();
  for (let attempt = 0; attempt < 3; attempt += 1) {
    await removeWaitingCampaignJob(deps.queues, id);
    const placedAt = Date.now();
    await enqueueCampaign(deps.queues, id, delay);
    const job = await deps.queues.campaigns.getJob(campaignJobId(id));
    if (!job || Math.abs(job.timestamp + job.delay - (placedAt + delay)) < 1_000) return;
  }
}

/** Takes a scheduled campaign back to draft (its time forgotten, its job removed). */
export async function unscheduleCampaign(deps: ControlDeps, id: number): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  if (
    !(await moveCampaign(deps.db, id, ['scheduled'], 'draft', deps.now().toISOString(), {
      scheduledAt: null,
      localTime: null,
    }))
  ) {
    throw new CampaignError(
      `cannot unschedule campaign ${id}: it is ${campaign.status} (allowed from scheduled)`,
      'status',
      409,
    );
  }
  await removeWaitingCampaignJob(deps.queues, id);
  return requireCampaign(deps.db, id);
}

/** Stops new sends within a second; resume continues where it stopped. */
export async function pauseCampaign(deps: ControlDeps, id: number): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  if (
    !(await moveCampaign(deps.db, id, transitions.pause, 'paused', deps.now().toISOString(), {
      reason: 'paused by an editor',
    }))
  ) {
    refuse(campaign, 'pause');
  }
  return requireCampaign(deps.db, id);
}

/** Continues a paused campaign: its unsent batches (or its fan-out) are queued again. */
export async function resumeCampaign(deps: ControlDeps, id: number): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  const now = deps.now().toISOString();
  if (
    !(await moveCampaign(deps.db, id, transitions.resume, 'sending', now, {
      startedAt: campaign.startedAt ?? now,
    }))
  ) {
    refuse(campaign, 'resume');
  }
  if (!campaign.preparedAt) {
    await removeWaitingCampaignJob(deps.queues, id);
    await enqueueCampaign(deps.queues, id);
  } else {
    await enqueueBatches(
      deps.queues.deliveries,
      deps.config,
      id,
      await pendingBatchNos(deps.db, id, now),
    );
  }
  return requireCampaign(deps.db, id);
}

/** Stops the campaign for good. */
export async function cancelCampaign(deps: ControlDeps, id: number): Promise<Campaign> {
  const campaign = await requireCampaign(deps.db, id);
  if (
    !(await moveCampaign(deps.db, id, transitions.cancel, 'cancelled', deps.now().toISOString(), {
      reason: 'cancelled by an editor',
    }))
  ) {
    refuse(campaign, 'cancel');
  }
  await removeWaitingCampaignJob(deps.queues, id);
  await removeBatchJobs(deps, id);
  // An alert held back for some readers (cap, quiet hours) would reach them in a digest later:
  // cancel stops that too.
  await newsroomDb(deps.db).deleteFrom('alert_held').where('campaign_id', '=', id).execute();
  return requireCampaign(deps.db, id);
}

/**
 * Removes the cancelled campaign's batch jobs still waiting or delayed in Redis (a local-time
 * send holds one delayed job per zone group for up to a day); returns how many went. A job a
 * worker holds is locked and stays: it reads the status and sends nothing more.
 */
async function removeBatchJobs(deps: ControlDeps, id: number): Promise<number> {
  let removed = 0;
  for (const batch_no of await allBatchNos(deps.db, id)) {
    removed += await deps.queues.deliveries.remove(batchJobId(id, batch_no));
  }
  return removed;
}
