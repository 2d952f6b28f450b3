// Editor actions on a campaign: send now, schedule, pause, resume, cancel. Each is a guarded
// state change in the store followed by the queue work it implies.
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { enqueueBatches, enqueueCampaign, removeWaitingCampaignJob } from '../delivery/jobs.ts';
import { pendingBatchNos } from '../delivery/progress.ts';
import type { Queues } from '../delivery/queues.ts';
import type { Database } from '../store/schema.ts';
import { type Campaign, type CampaignAction, transitions } from './model.ts';
import { CampaignError, moveCampaign, requireCampaign } from './repository.ts';

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
    }))
  ) {
    refuse(campaign, 'schedule');
  }
  await removeWaitingCampaignJob(deps.queues, id);
  await enqueueCampaign(deps.queues, id, at.getTime() - now.getTime());
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
  return requireCampaign(deps.db, id);
}
