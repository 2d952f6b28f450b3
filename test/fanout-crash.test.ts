// The delivery guarantee through crashes: SIGKILL loses nothing (duplicates only for what was
// in flight), SIGTERM duplicates nothing, and FLUSHALL on Redis is repaired by the reconciler.
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { campaignStatus, createCampaign } from '../src/campaigns/repository.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import {
  type PrivateRedis,
  spawnWorker,
  startPrivateRedis,
  stopChild,
} from './helpers/processes.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

const RECIPIENTS = 600;

let t: TestStore;
let sink: SmtpSink;
let redis: PrivateRedis;
let herald: RunningHerald;
let env: Record<string, string>;
const children: ChildProcess[] = [];

beforeEach(async () => {
  t = await openTestStore('sqlite');
  sink = await startSmtpSink();
  redis = await startPrivateRedis();
  env = testEnv(t.databaseUrl, {
    SMTP_URL: sink.url,
    REDIS_URL: redis.url,
    SEND_RATE: '200',
    BATCH_SIZE: '50',
    // `herald worker` runs delivery in DELIVERY_PROCESSES children (the default: one per core)
    // beside its own event loop: on a machine shared with other runs a 2 s lock expired under
    // a busy child and let a second one take the same batch while the first still sent.
    JOB_LOCK_MS: '10000',
  });
}, 240_000);
afterEach(async () => {
  for (const child of children.splice(0)) await stopChild(child, 'SIGKILL');
  await herald?.close();
  await sink?.close();
  await redis?.stop();
  await t?.dispose();
});

/** Seeds followers, creates the campaign and sends it; workers run wherever the test says. */
async function startCampaign(withWorkers: boolean) {
  herald = await startHerald(env, withWorkers);
  const db = herald.app.store.db;
  const article = await seedFixtureArticle(db);
  const emails = Array.from({ length: RECIPIENTS }, (_, i) => `k${i}@example.net`);
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
  return { campaignId: campaign.id, emails };
}

/** How many messages the sink accepted beyond the first for their recipient. */
function duplicates(): { extra: number } {
  const counts = sink.countsByRecipient();
  return { extra: [...counts.values()].reduce((sum, n) => sum + (n - 1), 0) };
}

function lostOf(emails: string[]): string[] {
  const counts = sink.countsByRecipient();
  return emails.filter((email) => !counts.has(email));
}

describe('crash safety', () => {
  it('a worker killed with SIGKILL and started again loses nothing', async () => {
    const { campaignId, emails } = await startCampaign(false);
    const first = await spawnWorker(env);
    children.push(first);
    await waitForCampaign(herald.app, campaignId, (r) => r.sent >= 150);
    await stopChild(first, 'SIGKILL');
    // What the sink holds but the ledger does not know as sent was in flight at the kill.
    const ledgerSent = (await campaignStatus(herald.app.store.db, campaignId)).sent;
    const inFlight = sink.messages.length - ledgerSent;

    const second = await spawnWorker(env);
    children.push(second);
    await waitForCampaign(herald.app, campaignId, (r) => r.status === 'sent');
    expect(lostOf(emails)).toEqual([]);
    const { extra } = duplicates();
    console.info(`[SIGKILL] in flight at the kill: ${inFlight}, duplicates: ${extra}`);
    expect(extra).toBeLessThanOrEqual(inFlight);
    expect(await stopChild(second, 'SIGTERM')).toBe(0);
  }, 240_000);

  it('a worker stopped with SIGTERM and started again sends no duplicate', async () => {
    const { campaignId, emails } = await startCampaign(false);
    const first = await spawnWorker(env);
    children.push(first);
    await waitForCampaign(herald.app, campaignId, (r) => r.sent >= 150);
    expect(await stopChild(first, 'SIGTERM')).toBe(0);
    const afterStop = await campaignStatus(herald.app.store.db, campaignId);
    expect(afterStop.pending).toBeGreaterThan(0);
    // Everything the sink accepted is recorded: nothing was left in flight.
    expect(afterStop.sent).toBe(sink.messages.length);

    const second = await spawnWorker(env);
    children.push(second);
    await waitForCampaign(herald.app, campaignId, (r) => r.status === 'sent');
    expect(lostOf(emails)).toEqual([]);
    expect(duplicates().extra).toBe(0);
    expect(sink.messages.length).toBe(RECIPIENTS);
  }, 240_000);

  it('FLUSHALL on Redis mid-campaign: the reconciler finishes it with nothing lost', async () => {
    const { campaignId, emails } = await startCampaign(true);
    await waitForCampaign(herald.app, campaignId, (r) => r.sent >= 100);
    await redis.client.flushall();
    const report = await waitForCampaign(herald.app, campaignId, (r) => r.status === 'sent');
    expect(report.sent).toBe(RECIPIENTS);
    expect(lostOf(emails)).toEqual([]);
    const { extra } = duplicates();
    console.info(`[FLUSHALL] duplicates: ${extra}`);
    expect(extra).toBe(0);
    // The reconciler's scheduler is back in Redis.
    expect(await herald.queues.reconcile.getJobSchedulersCount()).toBe(1);
  }, 240_000);

  it('Redis going away and coming back empty: workers reconnect and the campaign completes', async () => {
    const { campaignId, emails } = await startCampaign(true);
    await waitForCampaign(herald.app, campaignId, (r) => r.sent >= 100);
    await redis.restart(1_500);
    const report = await waitForCampaign(herald.app, campaignId, (r) => r.status === 'sent');
    expect(report.sent).toBe(RECIPIENTS);
    expect(lostOf(emails)).toEqual([]);
    expect(duplicates().extra).toBe(0);
  }, 240_000);
});
