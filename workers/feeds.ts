// Worker for the `feeds` queue: each job polls one feed (src/feeds/poll.ts); the per-feed
// job schedulers are kept in step with the store at start and every minute.
import { Worker } from 'bullmq';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import { pollFeed } from '../src/feeds/poll.ts';
import { feedJobSchema, syncFeedSchedulers } from '../src/feeds/schedule.ts';
import { pollDeps } from '../src/feeds/service.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { createRedis } from '../src/redis/index.ts';
import type { DeliveryRuntime } from './runtime.ts';

export async function startFeedsWorker(rt: DeliveryRuntime): Promise<Service> {
  const { app } = rt;
  const deps = pollDeps(app, rt.queues, rt.now);
  const connection = createRedis(app.config, 'worker');
  const worker = new Worker(
    QUEUE_NAMES.feeds,
    async (job) => pollFeed(deps, feedJobSchema.parse(job.data).feedId),
    {
      connection,
      prefix: app.config.QUEUE_PREFIX,
      concurrency: 2,
      lockDuration: app.config.JOB_LOCK_MS,
    },
  );
  worker.on('failed', (job, error) =>
    app.logger.error({ job_id: job?.id, err: error.message }, 'feeds.poll.job_failed'),
  );
  worker.on('error', (error) => app.logger.warn({ err: error.message }, 'worker.feeds.error'));
  const sync = () =>
    syncFeedSchedulers(app.store.db, rt.queues.feeds).catch((error: Error) =>
      app.logger.warn({ err: error.message }, 'feeds.scheduler_failed'),
    );
  await sync();
  const timer = setInterval(sync, 60_000);
  return {
    name: 'worker:feeds',
    async stop() {
      clearInterval(timer);
      await worker.close();
      connection.disconnect();
    },
  };
}
