// A control action racing a worker: the campaign's waiting fan-out job is taken (locked) by a
// worker between the moment Herald reads its state and the moment it removes it. Real Redis.
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueCampaign, removeWaitingCampaignJob } from '../src/delivery/jobs.ts';
import { openQueues, QUEUE_NAMES, type Queues } from '../src/delivery/queues.ts';
import { createLogger } from '../src/log/index.ts';
import { createRedis } from '../src/redis/index.ts';
import { uniqueName } from './helpers/stores.ts';

describe('removing a campaign job that a worker takes meanwhile', () => {
  const config = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_CLUSTER: false,
    QUEUE_PREFIX: uniqueName('race'),
  };
  const closers: Array<() => Promise<void> | void> = [];
  let queues: Queues;
  let worker: Worker;

  beforeAll(() => {
    queues = openQueues({
      config,
      logger: createLogger('silent'),
      onClose: (fn) => closers.push(fn),
    });
    // A worker without a processor: the test hands it the job when it wants to.
    worker = new Worker(QUEUE_NAMES.campaigns, null, {
      connection: createRedis(config, 'worker'),
      prefix: config.QUEUE_PREFIX,
    });
  });
  afterAll(async () => {
    await worker.close();
    for (const fn of closers.reverse()) await fn();
  });

  it('says "already started" instead of failing when the job went active under it', async () => {
    await enqueueCampaign(queues, 41);
    const getJob = queues.campaigns.getJob.bind(queues.campaigns);
    // Between Herald's state read ("waiting") and its removal, the worker locks the job.
    queues.campaigns.getJob = async (id: string) => {
      const job = await getJob(id);
      if (!job) return job;
      const readState = job.getState.bind(job);
      let first = true;
      job.getState = async () => {
        const state = await readState();
        if (first) {
          first = false;
          expect(await worker.getNextJob('test-token')).toBeDefined();
        }
        return state;
      };
      return job;
    };
    try {
      await expect(removeWaitingCampaignJob(queues, 41)).resolves.toBe(false);
    } finally {
      queues.campaigns.getJob = getJob;
    }
    expect(await (await getJob('campaign-41'))?.getState()).toBe('active');
    // A job still waiting is removed as before.
    await enqueueCampaign(queues, 42);
    await expect(removeWaitingCampaignJob(queues, 42)).resolves.toBe(true);
    expect(await getJob('campaign-42')).toBeUndefined();
  });
});
