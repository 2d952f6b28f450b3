// A campaign's fan-out: compile once, write the audience into the ledger page by page, and
// enqueue one batch job per page. Safe to run again after a crash: it resumes from the ledger.
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { type AudienceMember, readAudiencePage } from '../campaigns/audience.ts';
import type { Campaign } from '../campaigns/model.ts';
import { getCampaign, moveCampaign } from '../campaigns/repository.ts';
import { nextLocalOccurrence, parseLocalTime } from '../campaigns/schedule.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { insertLedgerRows } from '../store/ledger.ts';
import type { Database } from '../store/schema.ts';
import { enqueueBatches } from './jobs.ts';
import { finishIfDone, pendingBatchNos } from './progress.ts';
import type { Queues } from './queues.ts';
import { campaignRenderer } from './renderer.ts';

export interface FanOutDeps {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  queues: Queues;
  now: () => Date;
}

export interface FanOutResult {
  outcome: 'prepared' | 'skipped' | 'template-failed';
  batches: number;
}

/** Runs a campaign's fan-out job; a scheduled campaign whose time has come starts sending. */
export async function fanOutCampaign(deps: FanOutDeps, campaignId: number): Promise<FanOutResult> {
  const { db, config } = deps;
  const nowIso = () => deps.now().toISOString();
  const scheduled = await getCampaign(db, campaignId);
  if (
    scheduled?.status === 'scheduled' &&
    scheduled.scheduledAt &&
    Date.parse(scheduled.scheduledAt) > deps.now().getTime()
  ) {
    // Early (another process's clock, or a re-created job): never start before the instant;
    // the reconciler re-creates the delayed job from scheduled_at.
    deps.logger.warn({ campaign_id: campaignId }, 'delivery.campaign.early');
    return { outcome: 'skipped', batches: 0 };
  }
  await moveCampaign(db, campaignId, ['scheduled'], 'sending', nowIso(), { startedAt: nowIso() });
  const campaign = await getCampaign(db, campaignId);
  if (campaign?.status !== 'sending') return { outcome: 'skipped', batches: 0 };

  // Compile before writing anything: a broken template pauses the campaign with the reason
  // instead of failing every batch.
  try {
    await campaignRenderer(db, config, campaign);
  } catch (error) {
    const reason =
      `template failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
    await moveCampaign(db, campaignId, ['sending'], 'paused', nowIso(), { reason });
    deps.logger.error({ campaign_id: campaignId, reason }, 'delivery.campaign.compile_failed');
    return { outcome: 'template-failed', batches: 0 };
  }

  let batches = 0;
  if (!campaign.preparedAt) {
    // Resume after the last page a previous run wrote (each page is one transaction).
    const resume = await db
      .selectFrom('deliveries')
      .select([
        (eb) => eb.fn.max('subscriber_id').as('last_id'),
        (eb) => eb.fn.max('batch_no').as('last_batch'),
      ])
      .where('campaign_id', '=', campaignId)
      .executeTakeFirst();
    let afterId = Number(resume?.last_id ?? 0);
    let batchNo = Number(resume?.last_batch ?? 0);
    for (;;) {
      const page = await readAudiencePage(db, campaign.audienceTopics, afterId, config.BATCH_SIZE);
      if (page.lastId === null) break;
      afterId = page.lastId;
      if (page.members.length === 0) continue;
      // One batch per due instant within the page (a single one unless local-time scheduled).
      const groups = [...groupByDue(campaign, page.members, deps.now()).entries()].map(
        ([dueAt, members]) => ({
          dueAt,
          members,
          batchNo: ++batchNo,
        }),
      );
      await insertLedgerRows(
        db,
        campaignId,
        groups.flatMap((group) =>
          group.members.map((member) => ({
            subscriberId: member.subscriberId,
            batchNo: group.batchNo,
            dueAt: group.dueAt,
            status: member.suppressed ? ('suppressed' as const) : ('pending' as const),
          })),
        ),
        nowIso(),
      );
      for (const group of groups) {
        if (group.members.every((member) => member.suppressed)) continue;
        const delay = group.dueAt ? Date.parse(group.dueAt) - deps.now().getTime() : 0;
        await enqueueBatches(deps.queues.deliveries, config, campaignId, [group.batchNo], delay);
        batches += 1;
      }
    }
    await db
      .updateTable('campaigns')
      .set({ prepared_at: nowIso(), updated_at: nowIso() })
      .where('id', '=', campaignId)
      .execute();
  }
  // Every batch that still has unsent rows gets its job (covers a crash between a page's
  // insert and its enqueue; existing jobs are kept as they are).
  const unsentBatches = await pendingBatchNos(db, campaignId, nowIso());
  await enqueueBatches(deps.queues.deliveries, config, campaignId, unsentBatches);
  await enqueueFutureBatches(
    deps.queues.deliveries,
    config,
    campaignId,
    await futureBatches(db, campaignId, nowIso()),
    deps.now(),
  );
  await finishIfDone(db, campaignId, nowIso());
  deps.logger.info(
    { campaign_id: campaignId, batches: Math.max(batches, unsentBatches.length) },
    'delivery.campaign.prepared',
  );
  return { outcome: 'prepared', batches: Math.max(batches, unsentBatches.length) };
}

/**
 * Groups a page of the audience by due instant (ISO text): local-time campaigns plan each
 * member in their own zone from the campaign's anchor (scheduled_at); a campaign whose
 * scheduled instant is still ahead (paused before it, then resumed) is due at that instant;
 * others form one group, due at once (null).
 */
export function groupByDue(
  campaign: Pick<Campaign, 'localTime' | 'scheduledAt' | 'startedAt'>,
  members: readonly AudienceMember[],
  now: Date,
): Map<string | null, AudienceMember[]> {
  const time = campaign.localTime ? parseLocalTime(campaign.localTime) : null;
  const anchor = campaign.scheduledAt ?? campaign.startedAt;
  const ahead =
    campaign.scheduledAt && Date.parse(campaign.scheduledAt) > now.getTime()
      ? new Date(campaign.scheduledAt).toISOString()
      : null;
  const groups = new Map<string | null, AudienceMember[]>();
  for (const member of members) {
    const due =
      time && anchor
        ? nextLocalOccurrence(time, member.timezone, new Date(anchor)).toISOString()
        : ahead;
    const group = groups.get(due) ?? [];
    group.push(member);
    groups.set(due, group);
  }
  return groups;
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

/** Adds each future batch's delayed job (jobs already there are kept: ids are deterministic). */
export async function enqueueFutureBatches(
  deliveries: Queue,
  config: Config,
  campaignId: number,
  batches: readonly FutureBatch[],
  now: Date,
): Promise<void> {
  const byDue = new Map<string, number[]>();
  for (const batch of batches)
    byDue.set(batch.dueAt, [...(byDue.get(batch.dueAt) ?? []), batch.batchNo]);
  for (const [dueAt, batchNos] of byDue) {
    await enqueueBatches(
      deliveries,
      config,
      campaignId,
      batchNos,
      Date.parse(dueAt) - now.getTime(),
    );
  }
}
