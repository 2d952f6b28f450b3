// A delivery process keeps at most its transport's concurrency of messages built and in
// flight, however many batches run at once (SEND_CONCURRENCY): the send slots of
// workers/runtime.ts. Without them each batch kept that many, and the messages waiting in the
// SMTP pool's queue made a worker's memory grow with SEND_CONCURRENCY. Finished jobs leave
// Redis (removeOnComplete), so Redis holds work in progress only, whatever the campaign's size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import type { MailTransport } from '../src/mail/transport.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { WORKERS } from '../workers/index.ts';
import { createDeliveryRuntime } from '../workers/runtime.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const RECIPIENTS = 80;

describe.each(DIALECTS)('send slots on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  const services: Service[] = [];

  beforeAll(async () => {
    t = await openTestStore(dialect);
    // Each message held 15 ms at the sink, so batches overlap and lanes wait for slots.
    sink = await startSmtpSink({ delayMs: 15 });
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        SMTP_POOL_SIZE: '1',
        SEND_CONCURRENCY: '4',
        BATCH_SIZE: '10',
      }),
      false,
    );
  });
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('never has more messages in flight than the transport takes, across concurrent batches', async () => {
    const { app } = herald;
    const rt = await createDeliveryRuntime(app);
    // The process's real SMTP transport, with its sends counted on the way through.
    const smtp = rt.transport;
    let inFlight = 0;
    let mostInFlight = 0;
    let mostWaiting = 0;
    const counted: MailTransport = {
      name: smtp.name,
      label: smtp.label,
      concurrency: smtp.concurrency,
      verify: () => smtp.verify(),
      close: () => smtp.close(),
      async send(message) {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        mostWaiting = Math.max(mostWaiting, rt.sendSlots.pendingCount);
        try {
          return await smtp.send(message);
        } finally {
          inFlight -= 1;
        }
      },
    };
    rt.transport = counted;
    services.push(await WORKERS.campaigns(rt), await WORKERS.deliveries(rt));

    const db = app.store.db;
    const article = await seedFixtureArticle(db);
    await seedSubscribers(
      db,
      Array.from({ length: RECIPIENTS }, (_, i) => ({
        email: `slot${i}@example.net`,
        name: `Reader ${i}`,
        topics: ['russia-china-relations'],
        status: 'active' as const,
      })),
    );
    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: ['russia-china-relations'] }),
      new Date().toISOString(),
    );
    await sendCampaign(
      { db, config: app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    const report = await waitForCampaign(app, campaign.id, (r) => r.status === 'sent');

    expect(report.sent).toBe(RECIPIENTS);
    expect(sink.countsByRecipient().size).toBe(RECIPIENTS);
    expect([...sink.countsByRecipient().values()].every((count) => count === 1)).toBe(true);
    // SMTP_POOL_SIZE 1: two slots (one on the wire, one queued), while 4 batches × 2 lanes
    // wanted to send: lanes waited for a slot, and no more than two messages were out at once.
    expect(smtp.concurrency).toBe(2);
    expect(mostWaiting).toBeGreaterThan(0);
    expect(mostInFlight).toBe(2);
  });

  it('leaves no finished job in Redis once the campaign is sent', async () => {
    const counts = await herald.queues.deliveries.getJobCounts(
      'completed',
      'failed',
      'waiting',
      'delayed',
      'active',
    );
    expect(counts).toEqual({ completed: 0, failed: 0, waiting: 0, delayed: 0, active: 0 });
    expect(await herald.queues.campaigns.getJobCounts('completed', 'failed')).toEqual({
      completed: 0,
      failed: 0,
    });
  });
});
