// Worker for the `campaigns` queue: a campaign's fan-out (compile, ledger, batch jobs).
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import { campaignJobSchema } from '../src/delivery/jobs.ts';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { openQueueWorker } from './queue-worker.ts';
import type { DeliveryRuntime } from './runtime.ts';

export function startCampaignsWorker(rt: DeliveryRuntime): Service {
  const { app } = rt;
  const { worker, close } = openQueueWorker(
    app,
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
      concurrency: 2,
      lockDuration: app.config.JOB_LOCK_MS,
      stalledInterval: app.config.JOB_LOCK_MS,
    },
  );
  worker.on('failed', (job, error) =>
    app.logger.error({ job_id: job?.id, err: error.message }, 'delivery.fanout.failed'),
  );
  return {
    name: 'worker:campaigns',
    stop: close,
  };
}
