// Worker for the `reconcile` queue, plus the job scheduler that ticks it every
// RECONCILE_EVERY_MS (re-created at start and on every tick of this process, in case Redis
// lost it).
import { Worker } from 'bullmq';
import type { Service } from '../src/cli/lifecycle.ts';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import { ensureReconcileScheduler, reconcile } from '../src/delivery/reconcile.ts';
import type { DeliveryRuntime } from '../src/delivery/runtime.ts';
import { createRetentionTick } from '../src/engagement/retention.ts';
import { createRedis } from '../src/redis/index.ts';

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
  // BullMQ leaves a connection it was handed open on close: this file closes it.
  const connection = createRedis(app.config, 'worker');
  const retention = createRetentionTick(deps);
  const worker = new Worker(
    QUEUE_NAMES.reconcile,
    async () => {
      const result = await reconcile(deps);
      await retention(rt.now());
      return result;
    },
    {
      connection,
      prefix: app.config.QUEUE_PREFIX,
      concurrency: 1,
    },
  );
  worker.on('error', (error) => app.logger.warn({ err: error.message }, 'worker.reconcile.error'));
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
      await worker.close();
      connection.disconnect();
    },
  };
}
