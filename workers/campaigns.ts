// Worker for the `campaigns` queue: a campaign's fan-out (compile, ledger, batch jobs).
import { Worker } from 'bullmq';
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import { campaignJobSchema } from '../src/delivery/jobs.ts';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { createRedis } from '../src/redis/index.ts';
import type { DeliveryRuntime } from './runtime.ts';

export function startCampaignsWorker(rt: DeliveryRuntime): Service {
  const { app } = rt;
  // BullMQ leaves a connection it was handed open on close: this file closes it.
  const connection = createRedis(app.config, 'worker');
  const worker = new Worker(
    QUEUE_NAMES.campaigns,
    async (job) => {
      const { campaignId } = campaignJobSchema.parse(job.data);
      return fanOutCampaign(
        {
          db: app.store.db,
          config: app.config,
          logger: app.logger,
          queues: rt.queues,
          now: rt.now,
        },
        campaignId,
      );
    },
    {
      connection,
      prefix: app.config.QUEUE_PREFIX,
      concurrency: 2,
      lockDuration: app.config.JOB_LOCK_MS,
      stalledInterval: app.config.JOB_LOCK_MS,
    },
  );
  worker.on('failed', (job, error) =>
    app.logger.error({ job_id: job?.id, err: error.message }, 'delivery.fanout.failed'),
  );
  worker.on('error', (error) => app.logger.warn({ err: error.message }, 'worker.campaigns.error'));
  return {
    name: 'worker:campaigns',
    async stop() {
      await worker.close();
      connection.disconnect();
    },
  };
}
