// Worker for the `reconcile` queue, plus the job scheduler that ticks it every
// RECONCILE_EVERY_MS (re-created at start and on every tick of this process, in case Redis
// lost it).
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import { ensureReconcileScheduler, reconcile } from '../src/delivery/reconcile.ts';
import { createRetentionTick } from '../src/engagement/retention.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { openQueueWorker } from './queue-worker.ts';
import type { DeliveryRuntime } from './runtime.ts';

export async function startReconcileWorker(rt: DeliveryRuntime): Promise<Service> {
  const { app } = rt;
  const deps = {
    db: app.store.db,
    config: app.config,
    logger: app.logger,
    queues: rt.queues,
    redis: rt.redis,
    now: rt.now,
  };
  const retention = createRetentionTick(deps);
  const { close } = openQueueWorker(
    app,
    QUEUE_NAMES.reconcile,
    async () => {
      const result = await reconcile(deps);
      await retention(rt.now());
      return result;
    },
    { concurrency: 1 },
  );
  const every = app.config.RECONCILE_EVERY_MS;
  const ensure = () =>
    ensureReconcileScheduler(rt.queues, every).catch((error: Error) =>
      app.logger.warn({ err: error.message }, 'delivery.reconcile.scheduler_failed'),
    );
  await ensure();
  const timer = setInterval(ensure, every);
  return {
    name: 'worker:reconcile',
    async stop() {
      clearInterval(timer);
      await close();
    },
  };
}
