// What a worker process shares between its workers: queues, the mail transport, the rate
// limiter, a plain Redis connection, the clock, and the "stopping" flag set on SIGTERM.
import type { Redis } from 'ioredis';
import pLimit, { type LimitFunction } from 'p-limit';
import type { App } from '../src/app.ts';
import { createOutcomeWriter, type OutcomeWriter } from '../src/delivery/outcome-writer.ts';
import type { Queues } from '../src/delivery/queues.ts';
import { createSendLimiter, type SendLimiter } from '../src/delivery/rate.ts';
import type { MailTransport } from '../src/mail/transport.ts';
import { createRedis } from '../src/redis/index.ts';

export interface DeliveryRuntime {
  app: App;
  queues: Queues;
  transport: MailTransport;
  limiter: SendLimiter | null;
  /** At most transport.concurrency messages built and in flight in this process at once. */
  sendSlots: LimitFunction;
  writer: OutcomeWriter;
  redis: Redis;
  now: () => Date;
  stopping: () => boolean;
  /** Tells every batch in flight to finish the message in hand and hand back the rest. */
  beginStop(): void;
}

/** Builds the runtime once per process from the app's parts; its connections close with the app. */
export async function createDeliveryRuntime(
  app: App,
  now: () => Date = () => new Date(),
): Promise<DeliveryRuntime> {
  const queues = await app.queues();
  const transport = await app.transport();
  const redis = createRedis(app.config, 'client');
  let stopping = false;
  app.onClose(() => redis.disconnect());
  return {
    app,
    queues,
    transport,
    limiter: createSendLimiter(redis, app.config.QUEUE_PREFIX, app.config.SEND_RATE),
    sendSlots: pLimit(transport.concurrency),
    writer: createOutcomeWriter(app.store.db, now),
    redis,
    now,
    stopping: () => stopping,
    beginStop() {
      stopping = true;
    },
  };
}
