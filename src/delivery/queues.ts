// The BullMQ queues Herald runs, under QUEUE_PREFIX. Jobs carry ids and keys, never recipient
// lists or addresses, so Redis memory does not grow with a campaign's size.
import { Queue } from 'bullmq';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createRedis } from '../redis/index.ts';

export const QUEUE_NAMES = {
  /** One job per campaign send (id `campaign-<id>`): compile once, write the ledger, enqueue batches. */
  campaigns: 'campaigns',
  /** Batches of ledger rows to personalise and send. */
  deliveries: 'deliveries',
  /** The reconciler tick (a job scheduler): re-enqueues unsent work Redis lost. */
  reconcile: 'reconcile',
  /** The digest tick (a job scheduler): finds subscribers whose digest is due. */
  digests: 'digests',
  /** One job scheduler per feed (`feed-<id>`, every its interval): polls it (src/feeds). */
  feeds: 'feeds',
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];
export const ALL_QUEUES: QueueName[] = Object.values(QUEUE_NAMES);

export type Queues = Record<QueueName, Queue>;

/**
 * Who opens the queues: where Redis is, where to log, and where closing is registered. The App
 * (src/app.ts) is one; processes take their queues from `app.queues()`, which opens them once.
 */
export interface QueueOwner {
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER' | 'QUEUE_PREFIX'>;
  logger: Logger;
  onClose(fn: () => Promise<void> | void): void;
}

/** Opens every Herald queue on one shared connection; closed with the owner. */
export function openQueues(app: QueueOwner): Queues {
  const connection = createRedis(app.config, 'client');
  const queues = Object.fromEntries(
    ALL_QUEUES.map((name) => [
      name,
      new Queue(name, { connection, prefix: app.config.QUEUE_PREFIX }),
    ]),
  ) as Queues;
  // Connection errors are retried by ioredis; log them once each instead of printing stacks.
  for (const queue of Object.values(queues)) {
    queue.on('error', (error: Error) =>
      app.logger.warn({ queue: queue.name, err: error.message }, 'queue.error'),
    );
  }
  app.onClose(async () => {
    await Promise.all(Object.values(queues).map((queue) => queue.close()));
    connection.disconnect();
  });
  return queues;
}
