// The one place that opens Redis connections (for BullMQ queues, workers and plain commands).
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { type Config, redactUrl } from '../config/index.ts';

// ioredis (CommonJS) is required at the first connection, not imported: every app imports this
// module, and read-only CLI commands that never touch Redis should not pay for loading it.
const require = createRequire(import.meta.url);

export type RedisRole =
  /** Queues and plain commands: fail fast when Redis is away. */
  | 'client'
  /** BullMQ workers and blocking readers: wait for Redis forever (BullMQ requires it). */
  | 'worker';

/** Opens a connection to REDIS_URL (to the cluster it belongs to when REDIS_CLUSTER is on). */
export function createRedis(
  config: Pick<Config, 'REDIS_URL'> & Partial<Pick<Config, 'REDIS_CLUSTER'>>,
  role: RedisRole = 'client',
): Redis {
  const { Redis: RedisClient, Cluster } = require('ioredis') as typeof import('ioredis');
  const options = {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableReadyCheck: true,
    // Keep reconnecting with a capped backoff: a Redis restart must not kill a worker.
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
  let redis: Redis;
  if (config.REDIS_CLUSTER) {
    const url = new URL(config.REDIS_URL);
    const cluster = new Cluster([config.REDIS_URL], {
      // Credentials and TLS of the seed URL apply to every node the cluster reports.
      redisOptions: {
        ...options,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
        tls: url.protocol === 'rediss:' ? {} : undefined,
      },
      enableReadyCheck: true,
      clusterRetryStrategy: options.retryStrategy,
    });
    // A Cluster answers the same commands as a single connection (BullMQ takes either); the
    // rest of Herald only runs commands on keys under one hash-tagged QUEUE_PREFIX.
    redis = cluster as unknown as Redis;
  } else {
    redis = new RedisClient(config.REDIS_URL, options);
  }
  // Connection errors are retried by ioredis; keep the latest for health reports instead of
  // letting ioredis print one stack trace per attempt.
  redis.on('error', (error: Error) => {
    lastErrors.set(redis, error.message);
  });
  redis.on('ready', () => lastErrors.delete(redis));
  return redis;
}

const lastErrors = new WeakMap<Redis, string>();

/** The last connection error of a connection made by createRedis, if it has not recovered. */
export function lastRedisError(redis: Redis): string | undefined {
  return lastErrors.get(redis);
}

export class RedisUnavailableError extends Error {
  constructor(url: string, timeoutMs: number, cause?: unknown) {
    super(
      `Redis at REDIS_URL=${redactUrl(url)} did not answer within ${timeoutMs} ms` +
        (cause ? ` (${cause instanceof Error ? cause.message : String(cause)})` : ''),
    );
    this.name = 'RedisUnavailableError';
  }
}

/** Resolves when the connection answers PING; rejects with a message naming REDIS_URL otherwise. */
export async function waitForRedis(
  redis: Redis,
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CONNECT_TIMEOUT_MS'>,
): Promise<void> {
  const timeoutMs = config.REDIS_CONNECT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisUnavailableError(config.REDIS_URL, timeoutMs, lastRedisError(redis))),
      timeoutMs,
    );
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch (error) {
    if (error instanceof RedisUnavailableError) throw error;
    throw new RedisUnavailableError(config.REDIS_URL, timeoutMs, lastRedisError(redis) ?? error);
  } finally {
    clearTimeout(timer);
  }
}

/** PING with a deadline, for health checks: returns 'ok' or the reason it failed. */
export async function pingRedis(
  redis: Redis,
  config: Pick<Config, 'REDIS_URL'>,
  timeoutMs: number,
): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (error) {
    const reason =
      lastRedisError(redis) ?? (error instanceof Error ? error.message : String(error));
    return `REDIS_URL=${redactUrl(config.REDIS_URL)} unreachable: ${reason}`;
  } finally {
    clearTimeout(timer);
  }
}
