// The composition root (src/app.ts) hands out one queue set and one mail transport, opened on
// first use and closed once with the app; a queue worker (workers/queue-worker.ts) ends the
// Redis connection it opened. Real Redis and a real SQLite store.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { QUEUE_NAMES } from '../src/delivery/queues.ts';
import { createLogger } from '../src/log/index.ts';
import { createRedis } from '../src/redis/index.ts';
import { openQueueWorker } from '../workers/queue-worker.ts';
import { testEnv } from './helpers/herald.ts';
import { createTestTarget } from './helpers/stores.ts';

/** Resolves once the connection has ended (ioredis reports `end` after its socket closed). */
function ended(redis: Redis): Promise<string> {
  if (redis.status === 'end') return Promise.resolve(redis.status);
  return new Promise((resolve) => redis.once('end', () => resolve(redis.status)));
}

describe('the app as composition root', () => {
  let target: Awaited<ReturnType<typeof createTestTarget>>;
  beforeAll(async () => {
    target = await createTestTarget('sqlite');
  });
  afterAll(() => target.dispose());

  it('hands out one queue set and one transport, and closes each once', async () => {
    const app: App = await createApp(parseConfig(testEnv(target.databaseUrl)));
    const queues = await app.queues();
    expect(await app.queues()).toBe(queues);
    const transport = await app.transport();
    expect(await app.transport()).toBe(transport);
    expect(Object.keys(queues).sort()).toEqual(Object.values(QUEUE_NAMES).sort());
    expect(await queues.campaigns.getJobCounts('waiting')).toEqual({ waiting: 0 });
    let transportCloses = 0;
    const close = transport.close.bind(transport);
    transport.close = async () => {
      transportCloses += 1;
      await close();
    };
    await app.close();
    await app.close();
    // The queues' connection is gone: a queue read fails instead of reaching Redis.
    await expect(queues.campaigns.getJobCounts('waiting')).rejects.toThrow();
    expect(transportCloses).toBe(1);
  });
});

describe('a queue worker', () => {
  const config = parseConfig(testEnv('sqlite::memory:'));
  const logger = createLogger('silent');

  it('runs jobs of its queue, and close ends its own connection once', async () => {
    const connection = createRedis(config);
    const queue = new Queue(QUEUE_NAMES.reconcile, { connection, prefix: config.QUEUE_PREFIX });
    try {
      const seen: string[] = [];
      const opened = openQueueWorker<{ n: number }>(
        { config, logger },
        QUEUE_NAMES.reconcile,
        async (job) => {
          seen.push(`${job.name}:${job.data.n}`);
        },
        { concurrency: 1 },
      );
      const done = new Promise<void>((resolve) => opened.worker.once('completed', () => resolve()));
      await queue.add('tick', { n: 7 });
      await done;
      expect(seen).toEqual(['tick:7']);
      expect(opened.connection.status).toBe('ready');
      await opened.close();
      await opened.close();
      expect(opened.worker.isRunning()).toBe(false);
      expect(await ended(opened.connection)).toBe('end');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });
});
