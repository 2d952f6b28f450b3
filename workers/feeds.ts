// Worker for the `feeds` queue: each job polls one feed (src/feeds/poll.ts); the per-feed
// job schedulers are kept in step with the store at start and every minute.
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import type { PollDeps } from '../src/feeds/poll.ts';
import { feedJobSchema, syncFeedSchedulers } from '../src/feeds/schedule.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { openQueueWorker } from './queue-worker.ts';
import type { DeliveryRuntime } from './runtime.ts';

export async function startFeedsWorker(rt: DeliveryRuntime): Promise<Service> {
  const { app } = rt;
  // The poller and its parsers (feeds, HTML, Markdown) load with the first poll: a process
  // with no feeds to poll does not hold them.
  let deps: PollDeps | undefined;
  const poll = async (feedId: number) => {
    const [{ pollFeed }, { pollDeps }] = await Promise.all([
      import('../src/feeds/poll.ts'),
      import('../src/feeds/service.ts'),
    ]);
    deps ??= pollDeps(app, rt.queues, rt.now);
    return pollFeed(deps, feedId);
  };
  const { worker, close } = openQueueWorker(
    app,
    QUEUE_NAMES.feeds,
    async (job) => poll(feedJobSchema.parse(job.data).feedId),
    {
      concurrency: 2,
      lockDuration: app.config.JOB_LOCK_MS,
    },
  );
  worker.on('failed', (job, error) =>
    app.logger.error({ job_id: job?.id, err: error.message }, 'feeds.poll.job_failed'),
  );
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
      await close();
    },
  };
}
