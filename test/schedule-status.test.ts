// What `campaign status` says about a scheduled campaign (when; per zone for local time), and
// what `campaign cancel` leaves in Redis (none of the campaign's delayed jobs). Store + real
// Redis, no workers: the jobs stay where the control functions put them.
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { campaignStatus } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import {
  type ControlDeps,
  cancelCampaign,
  scheduleCampaign,
  scheduleCampaignAtLocalTime,
} from '../src/delivery/control.ts';
import { campaignJobId, enqueueBatches } from '../src/delivery/jobs.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { insertCampaign } from './helpers/rows.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const PLANNED_AT = new Date('2026-11-01T01:29:58Z');

describe.each(DIALECTS)('campaign status and cancel (%s)', (dialect) => {
  let app: App;
  let queues: Queues;
  let deps: ControlDeps;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const target = await createTestTarget(dialect);
    dispose = target.dispose;
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        QUEUE_PREFIX: uniqueName('schedstatus'),
        LOG_LEVEL: 'silent',
      }),
    );
    queues = openQueues(app);
    deps = { db: app.store.db, config: app.config, queues, now: () => PLANNED_AT };
    await seedSubscribers(app.store.db, [
      { email: 'a@example.net', topics: ['economy'], timezone: 'Asia/Kolkata' },
      { email: 'b@example.net', topics: ['economy'], timezone: 'Europe/London' },
      { email: 'c@example.net', topics: ['economy'], timezone: 'America/New_York' },
      { email: 'd@example.net', topics: ['economy'], timezone: 'Europe/London' },
    ]);
  });
  afterAll(async () => {
    if (queues) await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
    await app?.close();
    await dispose?.();
  });

  const delayedFor = async (campaignId: number) => {
    const jobs = [
      ...(await queues.deliveries.getJobs(['delayed', 'waiting'])),
      ...(await queues.campaigns.getJobs(['delayed', 'waiting'])),
    ] as Job<{ campaignId: number }>[];
    return jobs.filter((job) => job.data.campaignId === campaignId).length;
  };

  it('shows when a scheduled campaign goes, and each zone of a local-time send', async () => {
    const atInstant = await insertCampaign(app.store.db, { audience_topics: '["economy"]' });
    await scheduleCampaign(deps, atInstant, new Date('2026-11-02T09:00:00Z'));
    expect(await campaignStatus(app.store.db, atInstant)).toEqual({
      id: atInstant,
      status: 'scheduled',
      total: 0,
      sent: 0,
      failed: 0,
      bounced: 0,
      suppressed: 0,
      pending: 0,
      reason: null,
      scheduledAt: '2026-11-02T09:00:00.000Z',
      localTime: null,
    });

    const local = await insertCampaign(app.store.db, { audience_topics: '["economy"]' });
    await scheduleCampaignAtLocalTime(deps, local, '07:00');
    const status = await campaignStatus(app.store.db, local);
    expect(status).toMatchObject({
      status: 'scheduled',
      scheduledAt: '2026-11-01T01:30:00.000Z',
      localTime: '07:00',
    });
    expect(status.zones).toEqual([
      { zone: 'Asia/Kolkata', at: '2026-11-01T01:30:00.000Z' },
      { zone: 'Europe/London', at: '2026-11-01T07:00:00.000Z' },
      // 07:00 EST: New York leaves summer time at 06:00Z that morning.
      { zone: 'America/New_York', at: '2026-11-01T12:00:00.000Z' },
    ]);
  });

  it('after the fan-out, lists the zones still to go from the ledger', async () => {
    const db = app.store.db;
    const id = await insertCampaign(db, {
      audience_topics: '["economy"]',
      status: 'sending',
      local_time: '07:00',
      scheduled_at: '2026-11-01T01:30:00.000Z',
      prepared_at: '2026-11-01T01:30:01.000Z',
    });
    const subscribers = await db.selectFrom('subscribers').select(['id', 'timezone']).execute();
    const dueIn: Record<string, string> = {
      'Asia/Kolkata': '2026-11-01T01:30:00.000Z',
      'Europe/London': '2026-11-01T07:00:00.000Z',
      'America/New_York': '2026-11-01T12:00:00.000Z',
    };
    await db
      .insertInto('deliveries')
      .values(
        subscribers.map((s) => ({
          campaign_id: id,
          subscriber_id: s.id,
          status: s.timezone === 'Asia/Kolkata' ? ('sent' as const) : ('pending' as const),
          due_at: dueIn[s.timezone]!,
          updated_at: PLANNED_AT.toISOString(),
        })),
      )
      .execute();
    expect((await campaignStatus(db, id)).zones).toEqual([
      { zone: 'Europe/London', at: '2026-11-01T07:00:00.000Z' },
      { zone: 'America/New_York', at: '2026-11-01T12:00:00.000Z' },
    ]);
  });

  it('cancel removes the campaign’s delayed jobs from Redis, and only its own', async () => {
    const db = app.store.db;
    const sending = await insertCampaign(db, {
      audience_topics: '["economy"]',
      status: 'sending',
      prepared_at: PLANNED_AT.toISOString(),
    });
    const other = await insertCampaign(db, { status: 'sending' });
    const subscribers = await db.selectFrom('subscribers').select('id').orderBy('id').execute();
    await db
      .insertInto('deliveries')
      .values(
        subscribers.map((s, i) => ({
          campaign_id: sending,
          subscriber_id: s.id,
          status: 'pending' as const,
          batch_no: i + 1,
          updated_at: PLANNED_AT.toISOString(),
        })),
      )
      .execute();
    const batchNos = subscribers.map((_, i) => i + 1);
    await enqueueBatches(queues.deliveries, app.config, sending, batchNos, 3_600_000);
    await enqueueBatches(queues.deliveries, app.config, other, [1], 3_600_000);
    expect(await delayedFor(sending)).toBe(batchNos.length);

    expect(await cancelCampaign(deps, sending)).toMatchObject({ status: 'cancelled' });
    expect(await delayedFor(sending)).toBe(0);
    expect(await delayedFor(other)).toBe(1);

    // A scheduled campaign's own delayed fan-out job goes too.
    const scheduled = await insertCampaign(db, { audience_topics: '["economy"]' });
    await scheduleCampaign(deps, scheduled, new Date('2026-11-03T09:00:00Z'));
    expect(await (await queues.campaigns.getJob(campaignJobId(scheduled)))?.getState()).toBe(
      'delayed',
    );
    await cancelCampaign(deps, scheduled);
    expect(await delayedFor(scheduled)).toBe(0);
    expect((await campaignStatus(db, scheduled)).zones).toBeUndefined();
  });
});
