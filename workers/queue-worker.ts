// One BullMQ worker on one Herald queue, with a Redis connection of its own (a worker blocks
// on it, so it cannot share the queues' connection). BullMQ leaves a connection it was handed
// open when the worker closes: `close` ends the worker, then its connection, once.
import { type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../src/config/index.ts';
import type { QueueName } from '../src/delivery/queues.ts';
import type { Logger } from '../src/log/index.ts';
import { createRedis } from '../src/redis/index.ts';

export interface QueueWorker<Data, Result> {
  worker: Worker<Data, Result>;
  /** The worker's own connection; ended by `close`. */
  connection: Redis;
  /** Stops taking jobs, waits for the ones in hand, then ends the connection. */
  close(): Promise<void>;
}

/**
 * Opens a worker for `queue` under QUEUE_PREFIX on a new connection. Connection errors are
 * retried by ioredis and logged as `worker.<queue>.error`, one line each.
 */
export function openQueueWorker<Data = unknown, Result = unknown>(
  parts: { config: Pick<Config, 'REDIS_URL' | 'QUEUE_PREFIX'>; logger: Logger },
  queue: QueueName,
  processor: Processor<Data, Result>,
  options: Omit<WorkerOptions, 'connection' | 'prefix'>,
): QueueWorker<Data, Result> {
  const connection = createRedis(parts.config, 'worker');
  const worker = new Worker<Data, Result>(queue, processor, {
    ...options,
    connection,
    prefix: parts.config.QUEUE_PREFIX,
  });
  worker.on('error', (error) => parts.logger.warn({ err: error.message }, `worker.${queue}.error`));
  let closing: Promise<void> | undefined;
  const close = async () => {
    try {
      await worker.close();
    } finally {
      connection.disconnect();
    }
  };
  return {
    worker,
    connection,
    close() {
      closing ??= close();
      return closing;
    },
  };
}
