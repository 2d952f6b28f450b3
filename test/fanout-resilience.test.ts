// Temporary failures, bounces, pause/resume/cancel and concurrent campaigns, against a real
// SMTP sink and Redis (SQLite store; the dialect-independent parts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { campaignStatus, createCampaign } from '../src/campaigns/repository.ts';
import {
  type ControlDeps,
  cancelCampaign,
  pauseCampaign,
  resumeCampaign,
  sendCampaign,
} from '../src/delivery/control.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, type SmtpSinkOptions, startSmtpSink } from './helpers/smtp-sink.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

let t: TestStore;
let sink: SmtpSink;
let herald: RunningHerald;

async function boot(sinkOptions: SmtpSinkOptions, env: Record<string, string> = {}) {
  sink = await startSmtpSink(sinkOptions);
  herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url, ...env }));
}

function controls(): ControlDeps {
  return {
    db: herald.app.store.db,
    config: herald.app.config,
    queues: herald.queues,
    now: () => new Date(),
  };
}

/** Seeds the fixture and `count` followers of `topic` (emails `${prefix}${i}@example.net`). */
async function seedAudience(count: number, prefix = 'r', topic = 'russia-china-relations') {
  const db = herald.app.store.db;
  const article = await seedFixtureArticle(db);
  const emails = Array.from({ length: count }, (_, i) => `${prefix}${i}@example.net`);
  await seedSubscribers(
    db,
    emails.map((email) => ({ email, topics: [topic] })),
  );
  return { article, emails };
}

async function newCampaign(articleId: number, topics: string[]) {
  const input = createCampaignSchema.parse({ articleIds: [articleId], topics });
  return (await createCampaign(herald.app.store.db, input, new Date().toISOString())).campaign;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Pause and cancel act within a second (batches poll every 250 ms); the tests allow 500 ms
 * more, since a test machine shared with other suites can delay timers.
 */
const STOP_WITHIN_MS = 1_500;

beforeEach(async () => {
  t = await openTestStore('sqlite');
});
afterEach(async () => {
  await herald?.close();
  await sink?.close();
  await t?.dispose();
});

describe('fan-out under failures', () => {
  it('retries 4xx answers until every follower has exactly one email', async () => {
    let refused = 0;
    // One message in five is refused, each recipient at most 3 times: a recipient refused on all
    // 7 attempts of its batch (about 1 run in 200 with unbounded chance) would end `failed`.
    const refusalsOf = new Map<string, number>();
    await boot({
      dataReply: (message) => {
        const to = message.to[0] ?? '';
        const before = refusalsOf.get(to) ?? 0;
        if (before < 3 && Math.random() < 0.2) {
          refusalsOf.set(to, before + 1);
          refused += 1;
          return 451;
        }
        return undefined;
      },
    });
    const { article, emails } = await seedAudience(400);
    const campaign = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), campaign.id);
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    expect(refused).toBeGreaterThan(20);
    const counts = sink.countsByRecipient();
    for (const email of emails) expect(counts.get(email)).toBe(1);
    expect(report).toMatchObject({ total: 400, sent: 400, failed: 0, pending: 0 });
    // A row that needed a retry keeps its attempt count.
    const retried = await herald.app.store.db
      .selectFrom('deliveries')
      .select(['attempts'])
      .where('campaign_id', '=', campaign.id)
      .where('attempts', '>', 1)
      .execute();
    expect(retried.length).toBeGreaterThan(0);
  });

  it('bounces 5xx addresses once, suppresses them, and a second campaign skips them', async () => {
    await boot({ rcptReply: (address) => (address.startsWith('r1') ? 550 : undefined) });
    const { article, emails } = await seedAudience(60);
    const bad = emails.filter((email) => email.startsWith('r1'));
    const first = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), first.id);
    const report = await waitForCampaign(herald.app, first.id, (r) => r.status === 'sent');
    expect(report).toMatchObject({ total: 60, bounced: bad.length, sent: 60 - bad.length });
    const db = herald.app.store.db;
    const bouncedRow = await db
      .selectFrom('deliveries')
      .select(['last_reply', 'attempts'])
      .where('campaign_id', '=', first.id)
      .where('status', '=', 'bounced')
      .executeTakeFirstOrThrow();
    expect(bouncedRow.last_reply).toMatch(/550/);
    expect(bouncedRow.attempts).toBe(1);
    const suppressed = await db
      .selectFrom('suppressions')
      .select(['email_hash', 'reason'])
      .execute();
    expect(new Set(suppressed.map((s) => s.email_hash))).toEqual(new Set(bad.map(emailHash)));
    expect(suppressed.every((s) => s.reason === 'hard-bounce')).toBe(true);

    const before = sink.messages.length;
    const second = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), second.id);
    const secondReport = await waitForCampaign(herald.app, second.id, (r) => r.status === 'sent');
    expect(secondReport).toMatchObject({
      total: 60 - bad.length,
      sent: 60 - bad.length,
      bounced: 0,
    });
    const secondRecipients = sink.messages.slice(before).flatMap((m) => m.to);
    for (const email of bad) expect(secondRecipients).not.toContain(email);
  });

  it('auto-pauses a campaign whose failure ratio crosses the threshold, saying why', async () => {
    await boot(
      {
        rcptReply: (address) =>
          Number(address.slice(1).split('@')[0]) % 4 !== 0 ? 550 : undefined,
      },
      { FAILURE_PAUSE_MIN_SAMPLE: '40', FAILURE_PAUSE_RATIO: '0.5', BATCH_SIZE: '20' },
    );
    const { article } = await seedAudience(400);
    const campaign = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), campaign.id);
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'paused');
    expect(report.reason).toMatch(/^auto-paused: \d+% of the last \d+ attempts failed/);
    await sleep(600);
    const settled = await campaignStatus(herald.app.store.db, campaign.id);
    expect(settled.pending).toBeGreaterThan(0);
  });
});

describe('unsubscribes during a send', () => {
  it('a subscriber who unsubscribes while their batch is sending gets nothing more', async () => {
    await boot({}, { SEND_RATE: '40', BATCH_SIZE: '200' });
    const { article, emails } = await seedAudience(120);
    const campaign = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), campaign.id);
    await waitForCampaign(herald.app, campaign.id, (r) => r.sent >= 10);
    // The last ten, not yet reached by the one running batch, unsubscribe now.
    const leaving = emails.slice(-10);
    await herald.app.store.db
      .updateTable('subscribers')
      .set({ status: 'unsubscribed' })
      .where('email', 'in', leaving)
      .execute();
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    const counts = sink.countsByRecipient();
    for (const email of leaving) expect(counts.has(email)).toBe(false);
    expect(report).toMatchObject({ total: 120, sent: 110, suppressed: 10 });
  });
});

describe('pause, resume, cancel', () => {
  it('pause stops new sends within a second; resume finishes with one email each', async () => {
    await boot({}, { SEND_RATE: '60', BATCH_SIZE: '50' });
    const { article, emails } = await seedAudience(240);
    const campaign = await newCampaign(article.id, ['russia-china-relations']);
    await sendCampaign(controls(), campaign.id);
    await waitForCampaign(herald.app, campaign.id, (r) => r.sent >= 30);
    const pausedAt = Date.now();
    await pauseCampaign(controls(), campaign.id);
    await sleep(2_500);
    const lastAt = Math.max(...sink.messages.map((m) => m.at));
    expect(lastAt - pausedAt).toBeLessThanOrEqual(STOP_WITHIN_MS);
    const paused = await campaignStatus(herald.app.store.db, campaign.id);
    expect(paused.status).toBe('paused');
    expect(paused.pending).toBeGreaterThan(0);

    await resumeCampaign(controls(), campaign.id);
    await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    const counts = sink.countsByRecipient();
    for (const email of emails) expect(counts.get(email)).toBe(1);
  });

  it('cancel is final, and acts on one campaign while another keeps sending', async () => {
    await boot({}, { SEND_RATE: '80', BATCH_SIZE: '40' });
    const db = herald.app.store.db;
    const { article, emails: russiaChina } = await seedAudience(160, 'a', 'russia-china-relations');
    const others = Array.from({ length: 160 }, (_, i) => `b${i}@example.net`);
    await seedSubscribers(
      db,
      others.map((email) => ({ email, topics: ['china'] })),
    );
    const cancelled = await newCampaign(article.id, ['russia-china-relations']);
    const kept = await newCampaign(article.id, ['china']);
    await sendCampaign(controls(), cancelled.id);
    await sendCampaign(controls(), kept.id);
    await waitForCampaign(herald.app, cancelled.id, (r) => r.sent >= 20);
    const cancelledAt = Date.now();
    await cancelCampaign(controls(), cancelled.id);
    const done = await waitForCampaign(herald.app, kept.id, (r) => r.status === 'sent');
    expect(done.sent).toBe(160);
    await sleep(1_000);
    const toCancelled = sink.messages.filter((m) => m.to[0]!.startsWith('a'));
    expect(Math.max(...toCancelled.map((m) => m.at)) - cancelledAt).toBeLessThanOrEqual(
      STOP_WITHIN_MS,
    );
    expect(toCancelled.length).toBeLessThan(russiaChina.length);
    // The other campaign kept sending after the cancel.
    expect(sink.messages.some((m) => m.to[0]!.startsWith('b') && m.at > cancelledAt)).toBe(true);
    await expect(resumeCampaign(controls(), cancelled.id)).rejects.toThrow(/cancelled/);
    const final = await campaignStatus(db, cancelled.id);
    expect(final.status).toBe('cancelled');
    const counts = sink.countsByRecipient();
    for (const email of others) expect(counts.get(email)).toBe(1);
  });
});
