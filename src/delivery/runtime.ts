// What a worker process shares between its workers: queues, the mail transport, the rate
// limiter, a plain Redis connection, the clock, and the "stopping" flag set on SIGTERM.
import type { Redis } from 'ioredis';
import type { App } from '../app.ts';
import { createMailTransport } from '../mail/factory.ts';
import type { MailTransport } from '../mail/transport.ts';
import { createRedis } from '../redis/index.ts';
import { createOutcomeWriter, type OutcomeWriter } from './outcome-writer.ts';
import { openQueues, type Queues } from './queues.ts';
import { createSendLimiter, type SendLimiter } from './rate.ts';

export interface DeliveryRuntime {
  app: App;
  queues: Queues;
  transport: MailTransport;
  limiter: SendLimiter | null;
  writer: OutcomeWriter;
  redis: Redis;
  now: () => Date;
  stopping: () => boolean;
  /** Tells every batch in flight to finish the message in hand and hand back the rest. */
  beginStop(): void;
}

/** Builds the runtime once per process; its connections close with the app. */
export function createDeliveryRuntime(
  app: App,
  now: () => Date = () => new Date(),
): DeliveryRuntime {
  const queues = openQueues(app);
  const transport = createMailTransport(app.config);
  const redis = createRedis(app.config, 'client');
  let stopping = false;
  app.onClose(async () => {
    // Idle SMTP sessions end with QUIT before the process goes.
    await transport.close();
    redis.disconnect();
  });
  return {
    app,
    queues,
    transport,
    limiter: createSendLimiter(redis, app.config.QUEUE_PREFIX, app.config.SEND_RATE),
    writer: createOutcomeWriter(app.store.db, now),
    redis,
    now,
    stopping: () => stopping,
    beginStop() {
      stopping = true;
    },
  };
}
