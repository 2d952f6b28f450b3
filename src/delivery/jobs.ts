// The jobs Herald puts on its queues: deterministic ids (so enqueuing twice adds one job) and
// payloads that carry keys only, validated with zod when a worker takes them.
import type { Queue } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import type { Queues } from './queues.ts';

export const campaignJobSchema = z.object({ campaignId: z.number().int().positive() });
export type CampaignJobData = z.infer<typeof campaignJobSchema>;

export const batchJobSchema = z.object({
  campaignId: z.number().int().positive(),
  batchNo: z.number().int().positive(),
});
export type BatchJobData = z.infer<typeof batchJobSchema>;

/** Job id of a campaign's fan-out job (BullMQ custom ids must not be bare integers). */
export const campaignJobId = (campaignId: number) => `campaign-${campaignId}`;
/** Job id of one batch of a campaign. */
export const batchJobId = (campaignId: number, batchNo: number) => `b-${campaignId}-${batchNo}`;

/** Adds the campaign's fan-out job, now or after `delayMs`; a job already there is kept. */
export async function enqueueCampaign(
  queues: Queues,
  campaignId: number,
  delayMs = 0,
): Promise<void> {
  const data: CampaignJobData = { campaignId };
  await queues.campaigns.add('fan-out', data, {
    jobId: campaignJobId(campaignId),
    delay: Math.max(0, delayMs),
    attempts: 10,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  });
}

/** Removes the campaign's fan-out job if it is still waiting or delayed; returns whether it did. */
export async function removeWaitingCampaignJob(
  queues: Queues,
  campaignId: number,
): Promise<boolean> {
  const job = await queues.campaigns.getJob(campaignJobId(campaignId));
  if (!job) return false;
  const state = await job.getState();
  if (state === 'delayed' || state === 'waiting' || state === 'prioritized') {
    try {
      await job.remove();
      return true;
    } catch (error) {
      // A worker took the job between the state read and the removal: it runs now, and the
      // fan-out reads the campaign's current state, so this is "already started", not a fault.
      if (['active', 'completed', 'failed', 'unknown'].includes(await job.getState())) return false;
      throw error;
    }
  }
  return false;
}

/** Options of every batch job: temporary failures retry with exponential backoff. */
export function batchJobOptions(
  config: Pick<Config, 'SEND_RETRY_ATTEMPTS' | 'SEND_RETRY_BASE_MS'>,
) {
  return {
    attempts: config.SEND_RETRY_ATTEMPTS + 1,
    backoff: { type: 'exponential' as const, delay: config.SEND_RETRY_BASE_MS },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** Adds batch jobs (one per batch number); ids are deterministic, so duplicates are dropped. */
export async function enqueueBatches(
  deliveries: Queue,
  config: Pick<Config, 'SEND_RETRY_ATTEMPTS' | 'SEND_RETRY_BASE_MS'>,
  campaignId: number,
  batchNos: readonly number[],
  delayMs = 0,
): Promise<void> {
  if (batchNos.length === 0) return;
  const opts = batchJobOptions(config);
  await deliveries.addBulk(
    batchNos.map((batchNo) => ({
      name: 'send-batch',
      data: { campaignId, batchNo } satisfies BatchJobData,
      opts: { ...opts, jobId: batchJobId(campaignId, batchNo), delay: Math.max(0, delayMs) },
    })),
  );
}
