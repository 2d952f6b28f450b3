// The running application's shared parts, built once per process from the config.
import type { Redis } from 'ioredis';
import type { Config } from './config/index.ts';
import { createLogger, type Logger } from './log/index.ts';
import { createRedis, waitForRedis } from './redis/index.ts';
import { openStore, type Store } from './store/db.ts';

export interface App {
  config: Config;
  store: Store;
  logger: Logger;
  /** A shared non-blocking Redis connection, opened on first use. */
  redis(): Redis;
  /** Registers a clean-up to run on close (last registered runs first). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Opens the store (running migrations) and prepares lazy Redis access. */
export async function createApp(config: Config, options: { logger?: Logger } = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const store = await openStore(config.database);
  let redis: Redis | undefined;
  const closers: Array<() => Promise<void> | void> = [];
  let closed = false;
  return {
    config,
    store,
    logger,
    redis() {
      redis ??= createRedis(config, 'client');
      return redis;
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
}

/** Waits until Redis answers, or throws a message naming REDIS_URL. */
export async function requireRedis(app: App): Promise<Redis> {
  const redis = app.redis();
  await waitForRedis(redis, app.config);
  return redis;
}
