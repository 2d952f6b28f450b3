// Herald on a Redis Cluster: a local 3-master cluster, two `herald worker` processes and one
// PostgreSQL store deliver a campaign end to end, each recipient exactly once.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCampaign } from '../src/campaigns/control.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { ConfigError, parseConfig } from '../src/config/index.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { spawnWorker, stopChild } from './helpers/processes.ts';
import { type PrivateCluster, startPrivateCluster } from './helpers/redis-cluster.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

describe('REDIS_CLUSTER settings', () => {
  it('refuses a QUEUE_PREFIX without a {hash tag} in cluster mode, naming it', () => {
    const env = testEnv('sqlite::memory:', { REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'herald' });
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(/QUEUE_PREFIX: must hold a \{hash tag\}/);
    expect(parseConfig({ ...env, QUEUE_PREFIX: '{herald}' }).REDIS_CLUSTER).toBe(true);
    expect(parseConfig({ ...env, REDIS_CLUSTER: undefined }).REDIS_CLUSTER).toBe(false);
    expect(() => parseConfig({ ...env, REDIS_CLUSTER: 'maybe' })).toThrow(
      /REDIS_CLUSTER: must be true or false/,
    );
  });
});

describe('a campaign through a 3-master Redis Cluster with two worker processes', () => {
  const RECIPIENTS = 400;
  let cluster: PrivateCluster;
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let env: Record<string, string>;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    cluster = await startPrivateCluster(3);
    t = await openTestStore('postgres');
    sink = await startSmtpSink();
    env = testEnv(t.databaseUrl, {
      SMTP_URL: sink.url,
      REDIS_URL: cluster.url,
      REDIS_CLUSTER: 'true',
      QUEUE_PREFIX: `{${uniqueName('hq')}}`,
      BATCH_SIZE: '40',
      SEND_RATE: '400',
    });
    // This process only creates and sends the campaign; two separate processes deliver it.
    herald = await startHerald(env, false);
    workers.push(await spawnWorker(env), await spawnWorker(env));
  }, 240_000);
  afterAll(async () => {
    for (const worker of workers) await stopChild(worker, 'SIGTERM');
    await herald?.close();
    await sink?.close();
    await t?.dispose();
    await cluster?.stop();
  });

  it('sends every follower exactly one message, with all queue keys in one hash slot', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    const emails = Array.from({ length: RECIPIENTS }, (_, i) => `cluster${i}@example.net`);
    await seedSubscribers(
      db,
      emails.map((email) => ({ email, topics: ['russia-china-relations'] })),
    );
    const input = createCampaignSchema.parse({
      articleIds: [article.id],
      topics: ['russia-china-relations'],
    });
    const { campaign } = await createCampaign(db, input, new Date().toISOString());
    await sendCampaign(
      { db, config: herald.app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    expect(report).toMatchObject({ sent: RECIPIENTS, pending: 0, failed: 0, total: RECIPIENTS });

    const counts = sink.countsByRecipient();
    expect(counts.size).toBe(RECIPIENTS);
    for (const email of emails) expect(counts.get(email)).toBe(1);

    // The hash tag puts every Herald key on the one master that owns its slot.
    const prefix = env.QUEUE_PREFIX!;
    const keysPerNode = await cluster.onEveryNode('--scan', '--pattern', `${prefix}*`);
    const nodesWithKeys = keysPerNode.filter((keys) => keys.length > 0);
    expect(nodesWithKeys).toHaveLength(1);
    expect(nodesWithKeys[0]).toContain(`${prefix}:deliveries`);
  });
});
