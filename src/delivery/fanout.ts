// A campaign's fan-out: compile once, write the audience into the ledger page by page, and
// enqueue one batch job per page. Safe to run again after a crash: it resumes from the ledger.
import type { Kysely } from 'kysely';
import { readAudiencePage } from '../campaigns/audience.ts';
import { getCampaign, moveCampaign } from '../campaigns/repository.ts';
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
  await moveCampaign(db, campaignId, ['scheduled'], 'sending', nowIso(), { startedAt: nowIso() });
  const campaign = await getCampaign(db, campaignId);
  if (!campaign || campaign.status !== 'sending') return { outcome: 'skipped', batches: 0 };

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
      batchNo += 1;
      await insertLedgerRows(
        db,
        campaignId,
        page.members.map((member) => ({
          subscriberId: member.subscriberId,
          batchNo,
          status: member.suppressed ? ('suppressed' as const) : ('pending' as const),
        })),
        nowIso(),
      );
      if (page.members.some((member) => !member.suppressed)) {
        await enqueueBatches(deps.queues.deliveries, config, campaignId, [batchNo]);
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
  await finishIfDone(db, campaignId, nowIso());
  deps.logger.info(
    { campaign_id: campaignId, batches: Math.max(batches, unsentBatches.length) },
    'delivery.campaign.prepared',
  );
  return { outcome: 'prepared', batches: Math.max(batches, unsentBatches.length) };
}
