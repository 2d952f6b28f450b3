// Worker for the `deliveries` queue: one job = one batch of one campaign.
import { DelayedError } from 'bullmq';
import { BatchRetryError, batchFailureFields, deliverBatch } from '../src/delivery/deliver.ts';
import { type BatchJobData, batchJobSchema } from '../src/delivery/jobs.ts';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { openQueueWorker } from './queue-worker.ts';
import type { DeliveryRuntime } from './runtime.ts';

export function startDeliveriesWorker(rt: DeliveryRuntime): Service {
  const { app } = rt;
  // Typed for the failure log only: the processor parses what Redis hands back.
  const { worker, close } = openQueueWorker<Partial<BatchJobData>>(
    app,
    QUEUE_NAMES.deliveries,
    // The third parameter makes BullMQ hand each job an AbortSignal (see lockRenewalFailed).
    async (job, token, lock) => {
      const data = batchJobSchema.parse(job.data);
      const result = await deliverBatch(
        {
          db: app.store.db,
          config: app.config,
          logger: app.logger,
          redis: rt.redis,
          transport: rt.transport,
          limiter: rt.limiter,
          sendSlots: rt.sendSlots,
          writer: rt.writer,
          now: rt.now,
          stopping: rt.stopping,
        },
        data,
        {
          // The same job (a retry, or a re-run after a crash) takes its rows back; a job
          // re-created after Redis lost the first one does not take rows still in flight.
          claim: `${job.id}@${job.timestamp}`,
          finalAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
          lock,
        },
      );
      app.logger.info(
        { campaign_id: data.campaignId, batch_no: data.batchNo, job_id: job.id, ...result },
        'delivery.batch.done',
      );
      if (result.outcome === 'stopped' && token) {
        // Shutting down: hand the job back untouched (no attempt used); another worker resumes it.
        await job.moveToDelayed(Date.now() + 100, token);
        throw new DelayedError();
      }
      if (result.outcome === 'early' && result.notBefore && token) {
        // Fired before its rows fall due: sleep until then (on the real clock, measured from
        // the runtime's clock, which tests move) instead of finishing with the rows unsent.
        const wait = Math.max(0, Date.parse(result.notBefore) - rt.now().getTime());
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      if (result.outcome === 'lost') {
        // Not ours to finish: BullMQ refuses any move without the lock; the job stalls and is
        // taken again (the same claim takes back the rows this attempt left).
        throw new Error('delivery batch halted: the job lock was lost');
      }
      if (result.outcome === 'retry') {
        // BullMQ retries the job with exponential backoff; only the rows still pending are sent.
        throw new BatchRetryError(result.temporary, result.lastFailure);
      }
      return result;
    },
    {
      concurrency: app.config.SEND_CONCURRENCY,
      lockDuration: app.config.JOB_LOCK_MS,
      stalledInterval: app.config.JOB_LOCK_MS,
    },
  );
  // A job whose lock could not be renewed may already run on another worker (its lock expired
  // and the stalled check handed it out): its batch stops sending at once.
  worker.on('lockRenewalFailed', (jobIds) => {
    for (const jobId of jobIds) {
      worker.cancelJob(jobId, 'lock renewal failed');
      app.logger.warn({ job_id: jobId }, 'delivery.batch.lock_lost');
    }
  });
  // Codes only: the server's reply text often quotes the recipient's address.
  worker.on('failed', (job, error) =>
    app.logger.warn(
      {
        job_id: job?.id,
        campaign_id: job?.data?.campaignId,
        batch_no: job?.data?.batchNo,
        attempts: job?.attemptsMade,
        ...batchFailureFields(error),
      },
      'delivery.batch.failed',
    ),
  );
  return {
    name: 'worker:deliveries',
    async stop() {
      rt.beginStop();
      await close();
    },
  };
}
