// The running application's shared parts, built once per process from the config: the
// composition root. Routes, commands and workers take the queues and the mail transport from
// here instead of opening their own, so one process holds one queue set and one SMTP pool,
// each closed once with the app.
import type { Redis } from 'ioredis';
import type { Config } from './config/index.ts';
import type { Queues } from './delivery/queues.ts';
import { createLogger, type Logger } from './log/index.ts';
import type { MailTransport } from './mail/transport.ts';
import { createRedis, waitForRedis } from './redis/index.ts';
import type { Store } from './store/db.ts';
import { openHeraldStore } from './topics/store.ts';

export interface App {
  config: Config;
  store: Store;
  logger: Logger;
  /** A shared non-blocking Redis connection, opened on first use. */
  redis(): Redis;
  /**
   * Every Herald queue on one shared connection, opened on first use and closed with the app.
   * Async because BullMQ loads only then: read-only commands never pay for it.
   */
  queues(): Promise<Queues>;
  /**
   * The mail transport the config names (SMTP pool or outbox), created on first use and closed
   * with the app (idle SMTP sessions end with QUIT). nodemailer and MJML load only then.
   */
  transport(): Promise<MailTransport>;
  /** Registers a clean-up to run on close (last registered runs first). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Opens the store (migrated, catalogue seeded) and prepares lazy Redis, queues and transport. */
export async function createApp(config: Config, options: { logger?: Logger } = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const store = await openHeraldStore(config.database);
  let redis: Redis | undefined;
  let queues: Promise<Queues> | undefined;
  let transport: Promise<MailTransport> | undefined;
  const closers: Array<() => Promise<void> | void> = [];
  let closed = false;
  const app: App = {
    config,
    store,
    logger,
    redis() {
      redis ??= createRedis(config, 'client');
      return redis;
    },
    queues() {
      // openQueues registers their closing with the app.
      queues ??= import('./delivery/queues.ts').then(({ openQueues }) => openQueues(app));
      return queues;
    },
    transport() {
      transport ??= import('./mail/factory.ts').then(({ createMailTransport }) => {
        const created = createMailTransport(config);
        closers.push(() => created.close());
        return created;
      });
      return transport;
    },
    onClose(fn) {
      closers.push(fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const fn of closers.reverse()) await fn();
      if (redis) redis.disconnect();
      await store.close();
    },
  };
  return app;
}

/** Waits until Redis answers, or throws a message naming REDIS_URL. */
export async function requireRedis(app: App): Promise<Redis> {
  const redis = app.redis();
  await waitForRedis(redis, app.config);
  return redis;
}
