// /metrics (on the loopback metrics listener) moves with the ledger and the queues; the queue ops (pause, drain, retry) do what
// they say, on a unique QUEUE_PREFIX so no other test's queues are touched.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { type MetricsListener, startMetricsListener } from '../src/ops/metrics-listener.ts';
import { drainQueue, queueStats, retryFailed } from '../src/ops/queues.ts';
import { createRedis } from '../src/redis/index.ts';
import type { DeliveryStatus } from '../src/store/schema.ts';
import { signIn } from './helpers/console.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

/** The value of one sample line of a Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    const parts = labelText.split(',');
    if (wanted.every((w) => parts.includes(w)) && parts.length === wanted.length) {
      return Number(line.slice(line.indexOf('}') + 1).trim());
    }
  }
  return undefined;
}

describe.each(DIALECTS)('ops metrics and queue controls (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let queues: Queues;
  let dataDir: string;
  let listener: MetricsListener;
  const prefix = uniqueName('opsmetrics');

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-ops-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    queues = openQueues(app);
    listener = (await startMetricsListener(app, { port: 0 }))!;
  });
  afterAll(async () => {
    await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await listener.stop();
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function scrape(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${listener.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  }

  it('shows ledger counts, campaign progress and queue counts moving', async () => {
    const db = app.store.db;
    const now = new Date().toISOString();
    const campaign = await db
      .insertInto('campaigns')
      .values({
        kind: 'campaign',
        subject: 'S',
        template: 'alert',
        article_ids: '[]',
        audience_topics: '[]',
        status: 'sending',
        status_reason: null,
        scheduled_at: null,
        local_time: null,
        created_at: now,
        updated_at: now,
        started_at: now,
        finished_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const subscriberIds: number[] = [];
    for (let i = 0; i < 4; i++) {
      const row = await db
        .insertInto('subscribers')
        .values({
          email: `reader${i}@example.com`,
          name: null,
          status: 'active',
          created_at: now,
          confirmed_at: now,
          updated_at: now,
          last_digest_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      subscriberIds.push(row.id);
    }
    await db
      .insertInto('deliveries')
      .values(
        subscriberIds.map((id) => ({
          campaign_id: campaign.id,
          subscriber_id: id,
          status: 'pending' as DeliveryStatus,
          last_reply: null,
          due_at: null,
          sent_at: null,
          updated_at: now,
        })),
      )
      .execute();
    const labels = { campaign_id: String(campaign.id), kind: 'campaign' };

    let text = await scrape();
    expect(sample(text, 'herald_campaign_deliveries', { ...labels, status: 'pending' })).toBe(4);
    expect(sample(text, 'herald_campaign_deliveries', { ...labels, status: 'sent' })).toBe(0);
    expect(sample(text, 'herald_campaign_progress_ratio', labels)).toBe(0);
    expect(sample(text, 'herald_ledger_messages', { kind: 'campaign', status: 'pending' })).toBe(4);
    expect(sample(text, 'herald_queue_jobs', { queue: 'deliveries', state: 'waiting' })).toBe(0);
    // Process metrics and the delivery histogram ride along.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toContain('# TYPE herald_smtp_send_seconds histogram');

    const setStatus = (ids: number[], status: DeliveryStatus) =>
      db
        .updateTable('deliveries')
        .set({ status })
        .where('campaign_id', '=', campaign.id)
        .where('subscriber_id', 'in', ids)
        .execute();
    await setStatus(subscriberIds.slice(0, 2), 'sent');
    await setStatus([subscriberIds[2]!], 'bounced');
    await queues.deliveries.addBulk([
      { name: 'batch', data: { campaignId: campaign.id, batch: 1 } },
      { name: 'batch', data: { campaignId: campaign.id, batch: 2 } },
    ]);

    text = await scrape();
    expect(sample(text, 'herald_campaign_deliveries', { ...labels, status: 'sent' })).toBe(2);
    expect(sample(text, 'herald_campaign_deliveries', { ...labels, status: 'bounced' })).toBe(1);
    expect(sample(text, 'herald_campaign_progress_ratio', labels)).toBe(0.75);
    expect(sample(text, 'herald_ledger_messages', { kind: 'campaign', status: 'sent' })).toBe(2);
    expect(sample(text, 'herald_queue_jobs', { queue: 'deliveries', state: 'waiting' })).toBe(2);

    await setStatus([subscriberIds[3]!], 'suppressed');
    await queues.deliveries.pause();
    text = await scrape();
    expect(sample(text, 'herald_campaign_progress_ratio', labels)).toBe(1);
    expect(sample(text, 'herald_ledger_messages', { kind: 'campaign', status: 'suppressed' })).toBe(
      1,
    );
    expect(sample(text, 'herald_queue_jobs', { queue: 'deliveries', state: 'paused' })).toBe(2);
    expect(sample(text, 'herald_queue_jobs', { queue: 'deliveries', state: 'waiting' })).toBe(0);
    await queues.deliveries.resume();
    expect(await drainQueue(queues.deliveries)).toEqual({ removed: 2 });
    text = await scrape();
    expect(sample(text, 'herald_queue_jobs', { queue: 'deliveries', state: 'waiting' })).toBe(0);
  });

  it('retries the failed jobs of one campaign only, and answers /api/queues for ops', async () => {
    const queue = queues.campaigns;
    await queue.addBulk([
      { name: 'send', data: { campaignId: 7 } },
      { name: 'send', data: { campaignId: 7 } },
      { name: 'send', data: { campaignId: 8 } },
    ]);
    const connection = createRedis(app.config, 'worker');
    const worker = new Worker(
      queue.name,
      async (job) => {
        throw new Error(`550 mailbox reader${job.data.campaignId}@example.com unknown`);
      },
      { connection, prefix, concurrency: 3 },
    );
    try {
      await expect
        .poll(async () => (await queueStats('campaigns', queue)).failed, { timeout: 20_000 })
        .toBe(3);
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(await retryFailed(queue, { campaignId: 7 })).toEqual({ retried: 2 });
    const stats = await queueStats('campaigns', queue);
    expect(stats).toMatchObject({ failed: 1, waiting: 2 });

    // The dashboard's API never shows an address, even in a failure reason.
    const ops = await createApiKey(app.store.db, 'ops');
    // The dashboard is a console page: an ops user signed in, not an API key.
    const opsUser = await signIn(server, 'ops');
    const failed = await server.inject({
      method: 'GET',
      url: '/admin/queues/api/queues?activeQueue=campaigns&status=failed&page=1',
      headers: { cookie: opsUser.cookie },
    });
    expect(failed.statusCode).toBe(200);
    expect(failed.body).toContain('550 mailbox');
    expect(failed.body).not.toContain('@example.com');

    const listed = await server.inject({
      method: 'GET',
      url: '/api/queues',
      headers: { authorization: `Bearer ${ops.key}` },
    });
    expect(listed.statusCode).toBe(200);
    const campaigns = (
      listed.json() as { queues: Array<{ name: string; failed: number }> }
    ).queues.find((q) => q.name === 'campaigns');
    expect(campaigns?.failed).toBe(1);
    const retried = await server.inject({
      method: 'POST',
      url: '/api/queues/campaigns/retry',
      headers: { authorization: `Bearer ${ops.key}` },
      payload: {},
    });
    expect(retried.json()).toEqual({ name: 'campaigns', retried: 1 });
    const bad = await server.inject({
      method: 'POST',
      url: '/api/queues/nope/pause',
      headers: { authorization: `Bearer ${ops.key}` },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid queue' });
  });

  it('answers /readyz with Redis, store and the outbox transport (metrics listener, ops key)', async () => {
    const response = await fetch(`http://127.0.0.1:${listener.port}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', redis: 'ok', store: 'ok', smtp: 'ok' });
    const ops = await createApiKey(app.store.db, 'ops');
    const viaKey = await server.inject({
      method: 'GET',
      url: '/readyz',
      headers: { authorization: `Bearer ${ops.key}` },
    });
    expect(viaKey.statusCode).toBe(200);
    expect(viaKey.json()).toEqual({ status: 'ok', redis: 'ok', store: 'ok', smtp: 'ok' });
  });
});

describe('GET /readyz without an SMTP server', () => {
  it('answers 503 naming SMTP_URL', async () => {
    const t = await openTestStore('sqlite');
    const app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        SMTP_URL: 'smtp://127.0.0.1:1',
        QUEUE_PREFIX: uniqueName('opsready'),
        LOG_LEVEL: 'silent',
      }),
    );
    try {
      const server = await buildServer(app);
      const ops = await createApiKey(app.store.db, 'ops');
      const response = await server.inject({
        method: 'GET',
        url: '/readyz',
        headers: { authorization: `Bearer ${ops.key}` },
      });
      expect(response.statusCode).toBe(503);
      const body = response.json() as Record<string, string>;
      expect(body).toMatchObject({ status: 'unavailable', redis: 'ok', store: 'ok' });
      expect(body.smtp).toMatch(/^SMTP_URL: /);
      await server.close();
    } finally {
      await app.close();
      await t.dispose();
    }
  });
});

describe('the default keeps ops data off the public port', () => {
  it('serves no /metrics on the public port, /readyz only to ops, and no metrics listener unless METRICS_PORT is set', async () => {
    const t = await openTestStore('sqlite');
    const config = parseConfig({
      DATABASE_URL: t.databaseUrl,
      QUEUE_PREFIX: uniqueName('opsdefault'),
      LOG_LEVEL: 'silent',
    });
    expect(config.METRICS_PORT).toBeUndefined();
    expect(config.METRICS_HOST).toBe('127.0.0.1');
    const app = await createApp(config);
    try {
      expect(await startMetricsListener(app)).toBeNull();
      const server = await buildServer(app);
      const metrics = await server.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(404);
      expect(metrics.body).not.toContain('herald_campaign');
      const anonymous = await server.inject({ method: 'GET', url: '/readyz' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.body).not.toContain('smtp');
      const editor = await createApiKey(app.store.db, 'editor');
      const asEditor = await server.inject({
        method: 'GET',
        url: '/readyz',
        headers: { authorization: `Bearer ${editor.key}` },
      });
      expect(asEditor.statusCode).toBe(403);
      await server.close();

      // Set, it listens on loopback only.
      const listener = (await startMetricsListener(app, { port: 0 }))!;
      try {
        expect(listener.host).toBe('127.0.0.1');
        const scraped = await fetch(`http://127.0.0.1:${listener.port}/metrics`);
        expect(scraped.status).toBe(200);
        expect(await scraped.text()).toContain('# TYPE herald_campaign_deliveries gauge');
        expect((await fetch(`http://127.0.0.1:${listener.port}/subscribe`)).status).toBe(404);
      } finally {
        await listener.stop();
      }
    } finally {
      await app.close();
      await t.dispose();
    }
  });
});
