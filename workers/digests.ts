// Worker for the `digests` queue, plus the job scheduler that ticks it every DIGEST_TICK_MS
// (re-created at start and on every interval of this process, in case Redis lost it).
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import { ensureDigestScheduler } from '../src/digests/scheduler.ts';
import { runDigestTick } from '../src/digests/tick.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { openQueueWorker } from './queue-worker.ts';
import type { DeliveryRuntime } from './runtime.ts';

export async function startDigestsWorker(rt: DeliveryRuntime): Promise<Service> {
  const { app } = rt;
  const deps = {
    db: app.store.db,
    config: app.config,
    logger: app.logger,
    queues: rt.queues,
    now: rt.now,
  };
  // Its own connection, ended on stop (it used to be left open).
  const { worker, close } = openQueueWorker(
    app,
    QUEUE_NAMES.digests,
    async () => runDigestTick(deps, rt.now()),
    { concurrency: 1 },
  );
  worker.on('failed', (job, error) =>
    app.logger.error({ job_id: job?.id, err: error.message }, 'digests.tick.failed'),
  );
  const every = app.config.DIGEST_TICK_MS;
  const ensure = () =>
    ensureDigestScheduler(rt.queues, every).catch((error: Error) =>
      app.logger.warn({ err: error.message }, 'digests.scheduler_failed'),
    );
  await ensure();
  const timer = setInterval(ensure, Math.max(every, 60_000));
  return {
    name: 'worker:digests',
    async stop() {
      clearInterval(timer);
      await close();
    },
  };
}
