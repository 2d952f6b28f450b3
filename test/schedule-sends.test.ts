// Scheduled sends end to end (app + workers in-process, a real SMTP sink, both SQL dialects):
// an instant 2 s ahead, reschedule, unschedule, refusals; local time across three zones on a
// movable clock (a half-hour zone, one crossing DST between planning and sending).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema } from '../src/articles/schema.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { CampaignError, createCampaign, getCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import {
  type ControlDeps,
  pauseCampaign,
  resumeCampaign,
  scheduleCampaign,
  scheduleCampaignAtLocalTime,
  unscheduleCampaign,
} from '../src/delivery/control.ts';
import { batchJobId, campaignJobId } from '../src/delivery/jobs.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import type { Database } from '../src/store/schema.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { startClockedWorkers, testClock } from './helpers/clocked.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A draft campaign on one topic with `count` followers of it (addresses `<tag>-<i>@…`). */
async function draftWithAudience(
  db: Kysely<Database>,
  topic: string,
  tag: string,
  zones: readonly string[],
): Promise<{ id: number; emails: string[] }> {
  await ensureCatalogue(db);
  const { article } = await saveArticle(
    db,
    articleSchema.parse({
      title: `News for ${tag}`,
      paragraphs: [`A paragraph about ${topic} for ${tag}.`],
      topics: [topic],
    }),
  );
  const emails = zones.map((_, i) => `${tag}-${i}@example.net`);
  await seedSubscribers(
    db,
    emails.map((email, i) => ({ email, topics: [topic], timezone: zones[i]! })),
  );
  const { campaign } = await createCampaign(
    db,
    createCampaignSchema.parse({ articleIds: [article.id], topics: [topic] }),
    new Date().toISOString(),
  );
  return { id: campaign.id, emails };
}

/** The campaign's ledger rows with their subscribers' addresses and zones. */
async function ledger(db: Kysely<Database>, campaignId: number) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['s.email', 's.timezone', 'd.status', 'd.due_at', 'd.sent_at', 'd.batch_no'])
    .where('d.campaign_id', '=', campaignId)
    .orderBy('s.id')
    .execute();
}

describe.each(DIALECTS)('scheduled sends on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let server: FastifyInstance;
  let editorKey: string;
  let deps: ControlDeps;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }));
    server = await buildServer(herald.app);
    editorKey = (await createApiKey(herald.app.store.db, 'editor')).key;
    deps = {
      db: herald.app.store.db,
      config: herald.app.config,
      queues: herald.queues,
      now: () => new Date(),
    };
  });
  afterAll(async () => {
    await server?.close();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('sends a campaign scheduled 2 s ahead at that instant, not before', async () => {
    const db = herald.app.store.db;
    const { id, emails } = await draftWithAudience(db, 'economy', 'two-s', ['UTC', 'UTC', 'UTC']);
    const at = new Date(Date.now() + 2_000);
    const scheduled = await scheduleCampaign(deps, id, at);
    expect(scheduled).toMatchObject({ status: 'scheduled', scheduledAt: at.toISOString() });
    expect(await (await herald.queues.campaigns.getJob(campaignJobId(id)))?.getState()).toBe(
      'delayed',
    );
    // Watch the sink: the first of these messages must not arrive before the instant.
    const firstSeen = waitFor('the first message', async () =>
      sink.messages.some((m) => emails.includes(m.to[0]!)) ? Date.now() : undefined,
    );
    await waitForCampaign(herald.app, id, (r) => r.status === 'sent');
    const seen = await firstSeen;
    expect(seen).toBeGreaterThanOrEqual(at.getTime());
    process.stderr.write(
      `schedule-sends ${dialect}: first message ${seen - at.getTime()} ms after the instant\n`,
    );
    const rows = await ledger(db, id);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.status).toBe('sent');
      expect(row.sent_at! >= at.toISOString()).toBe(true);
    }
    const counts = sink.countsByRecipient();
    for (const email of emails) expect(counts.get(email)).toBe(1);
  });

  it('reschedules to the new instant, and unscheduled campaigns go back to draft unsent', async () => {
    const db = herald.app.store.db;
    const moved = await draftWithAudience(db, 'technology', 'moved', ['UTC', 'Asia/Kolkata']);
    await scheduleCampaign(deps, moved.id, new Date(Date.now() + 3_600_000));
    // From local time to an instant: the local time is forgotten.
    await scheduleCampaignAtLocalTime(deps, moved.id, '07:00');
    const at = new Date(Date.now() + 1_500);
    const rescheduled = await scheduleCampaign(deps, moved.id, at);
    expect(rescheduled).toMatchObject({ scheduledAt: at.toISOString(), localTime: null });
    const job = await herald.queues.campaigns.getJob(campaignJobId(moved.id));
    expect(job!.timestamp + job!.delay).toBeLessThan(Date.now() + 2_000);
    await waitForCampaign(herald.app, moved.id, (r) => r.status === 'sent');
    for (const row of await ledger(db, moved.id))
      expect(row.sent_at! >= at.toISOString()).toBe(true);

    const dropped = await draftWithAudience(db, 'climate', 'dropped', ['UTC', 'UTC']);
    await scheduleCampaign(deps, dropped.id, new Date(Date.now() + 1_000));
    const draft = await unscheduleCampaign(deps, dropped.id);
    expect(draft).toMatchObject({ status: 'draft', scheduledAt: null, localTime: null });
    expect(await herald.queues.campaigns.getJob(campaignJobId(dropped.id))).toBeUndefined();
    // Past the old instant and several reconciler passes: nothing was sent or re-created.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await getCampaign(db, dropped.id))?.status).toBe('draft');
    expect(await ledger(db, dropped.id)).toHaveLength(0);
    expect(sink.messages.filter((m) => dropped.emails.includes(m.to[0]!))).toHaveLength(0);
    await expect(unscheduleCampaign(deps, dropped.id)).rejects.toMatchObject({
      field: 'status',
      status: 409,
    });
    // Sending has started: too late to schedule again.
    await expect(
      scheduleCampaign(deps, moved.id, new Date(Date.now() + 60_000)),
    ).rejects.toBeInstanceOf(CampaignError);
  });

  it('holds a campaign paused before its instant and resumed until that instant', async () => {
    const db = herald.app.store.db;
    const { id } = await draftWithAudience(db, 'russia', 'held', ['UTC', 'Asia/Kolkata']);
    const at = new Date(Date.now() + 2_500);
    await scheduleCampaign(deps, id, at);
    expect((await pauseCampaign(deps, id)).status).toBe('paused');
    expect((await resumeCampaign(deps, id)).status).toBe('sending');
    await waitForCampaign(herald.app, id, (r) => r.status === 'sent');
    for (const row of await ledger(db, id)) {
      expect(row.due_at).toBe(at.toISOString());
      expect(row.sent_at! >= at.toISOString()).toBe(true);
    }
  });

  it('answers the schedule API with 4xx naming the field, and accepts {localTime}', async () => {
    const db = herald.app.store.db;
    const { id } = await draftWithAudience(db, 'china', 'api', ['Asia/Kolkata', 'Europe/Paris']);
    const post = (path: string, payload?: unknown) =>
      server.inject({
        method: 'POST',
        url: `/api/campaigns/${id}/${path}`,
        headers: { authorization: `Bearer ${editorKey}` },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    const refusals: Array<[unknown, string]> = [
      [{ at: new Date(Date.now() - 60_000).toISOString() }, 'at'],
      [{ at: 'next tuesday' }, 'at'],
      [{ at: '2026-12-01T07:00' }, 'at'],
      [{ localTime: '25:00' }, 'localTime'],
      [{ localTime: '7am' }, 'localTime'],
      [{ at: '2030-12-01T07:00', timezone: 'Mars/Olympus_Mons' }, 'timezone'],
      [{}, 'at'],
    ];
    for (const [body, field] of refusals) {
      const response = await post('schedule', body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      const answer = response.json() as { error: string; details: Array<{ field: string }> };
      expect(
        answer.details.map((detail) => detail.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    expect((await getCampaign(db, id))?.status).toBe('draft');

    const local = await post('schedule', { localTime: '07:00' });
    expect(local.statusCode).toBe(200);
    expect(local.json()).toMatchObject({ status: 'scheduled', localTime: '07:00' });
    const zoned = await post('schedule', { at: '2030-12-01T07:00', timezone: 'Europe/Paris' });
    expect(zoned.json()).toMatchObject({
      scheduledAt: '2030-12-01T06:00:00.000Z',
      localTime: null,
    });
    const back = await post('unschedule');
    expect(back.statusCode).toBe(200);
    expect(back.json()).toMatchObject({ status: 'draft', scheduledAt: null });
    expect((await post('unschedule')).statusCode).toBe(409);
  });

  it('refuses a malformed time on the command line with one line naming the option', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [resolve(import.meta.dirname, '../bin/herald.js'), ...args], {
        env: { ...process.env, ...herald.env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const badTime = run('campaign', 'schedule', '1', '--local-time', '25:00');
    expect(badTime.status).toBe(2);
    expect(badTime.stderr).toContain('--local-time');
    expect(badTime.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.each(DIALECTS)('local-time schedule across three zones on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let app: App;
  let queues: Queues;
  let stopWorkers: () => Promise<void>;
  // Two seconds before 07:00 in Kolkata (+05:30) on the night US DST ends (1 Nov 2026, 06:00Z).
  const clock = testClock(new Date('2026-11-01T01:29:58Z'));

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    app = await createApp(
      parseConfig(
        testEnv(t.databaseUrl, {
          SMTP_URL: sink.url,
          RECONCILE_EVERY_MS: '300',
          QUEUE_PREFIX: uniqueName('hq'),
        }),
      ),
    );
    queues = openQueues(app);
    stopWorkers = await startClockedWorkers(app, clock, ['campaigns', 'deliveries', 'reconcile']);
  });
  afterAll(async () => {
    await stopWorkers?.();
    await app?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('sends each zone’s group at 07:00 local, planned across the DST change', async () => {
    const db = app.store.db;
    const zones = [
      'Asia/Kolkata',
      'Europe/London',
      'America/New_York',
      'Asia/Kolkata',
      'Europe/London',
      'America/New_York',
      'Not/A_Zone',
    ];
    const { id, emails } = await draftWithAudience(db, 'ukraine-war', 'local', zones);
    // Ten seconds before Kolkata's 07:00: scheduling must happen before it, even on a busy
    // machine (with two seconds, a slow call planned Kolkata for the next day).
    clock.set(new Date('2026-11-01T01:29:50Z'));
    const byZone = (zone: string) => emails.filter((_, i) => zones[i] === zone);
    const scheduled = await scheduleCampaignAtLocalTime(
      { db, config: app.config, queues, now: clock.now },
      id,
      '07:00',
    );
    expect(scheduled).toMatchObject({
      status: 'scheduled',
      localTime: '07:00',
      scheduledAt: '2026-11-01T01:30:00.000Z',
    });

    const sentTo = (list: string[]) => async () => {
      const rows = (await ledger(db, id)).filter((row) => list.includes(row.email));
      return rows.length === list.length && rows.every((row) => row.status === 'sent')
        ? rows
        : undefined;
    };
    const kolkata = await waitFor('Kolkata at 07:00 IST', sentTo(byZone('Asia/Kolkata')));
    for (const row of kolkata) expect(row.sent_at! >= '2026-11-01T01:30:00.000Z').toBe(true);
    const rows = await ledger(db, id);
    const due = Object.fromEntries(rows.map((row) => [row.timezone, row.due_at]));
    expect(due).toEqual({
      'Asia/Kolkata': '2026-11-01T01:30:00.000Z',
      'Europe/London': '2026-11-01T07:00:00.000Z',
      // 07:00 EST, after the change (EDT until 06:00Z): not 11:00Z.
      'America/New_York': '2026-11-01T12:00:00.000Z',
      'Not/A_Zone': '2026-11-01T07:00:00.000Z',
    });
    // One batch per due instant; later groups wait as delayed jobs, unsent.
    const batchOf = (zone: string) => rows.find((row) => row.timezone === zone)!.batch_no;
    expect(new Set(rows.map((row) => `${row.batch_no}:${row.due_at}`)).size).toBe(
      new Set(rows.map((row) => row.batch_no)).size,
    );
    const london = await queues.deliveries.getJob(batchJobId(id, batchOf('Europe/London')));
    expect(await london?.getState()).toBe('delayed');
    expect(Math.abs(london!.delay - 5.5 * 3_600_000)).toBeLessThan(10_000);
    expect(new Set(sink.messages.map((m) => m.to[0]))).toEqual(new Set(byZone('Asia/Kolkata')));

    // Fifteen seconds before 07:00 in London: its job run early sends nothing and goes back to
    // waiting until 07:00 (not left to the reconciler); at 07:00 it sends.
    clock.set(new Date('2026-11-01T06:59:45Z'));
    await london!.promote();
    const londoners = [...byZone('Europe/London'), ...byZone('Not/A_Zone')];
    const waitingAgain = await waitFor('the early London job to wait again', async () => {
      const job = await queues.deliveries.getJob(london!.id!);
      return job && job.attemptsStarted > 0 && (await job.getState()) === 'delayed'
        ? job
        : undefined;
    });
    expect(waitingAgain.attemptsStarted).toBeGreaterThan(0);
    expect(clock.now().toISOString() < '2026-11-01T07:00:00.000Z').toBe(true);
    expect(sink.messages.some((m) => londoners.includes(m.to[0]!))).toBe(false);
    for (const row of await waitFor('London at 07:00 GMT', sentTo(londoners)))
      expect(row.sent_at! >= '2026-11-01T07:00:00.000Z').toBe(true);
    expect(sink.messages.some((m) => byZone('America/New_York').includes(m.to[0]!))).toBe(false);

    // Redis loses New York's delayed job: the reconciler re-creates it from the ledger.
    const nyJobId = batchJobId(id, batchOf('America/New_York'));
    await (await queues.deliveries.getJob(nyJobId))?.remove();
    const recreated = await waitFor('the reconciler to re-create the delayed batch', async () => {
      const job = await queues.deliveries.getJob(nyJobId);
      return job && (await job.getState()) === 'delayed' ? job : undefined;
    });
    const dueIn = Date.parse('2026-11-01T12:00:00Z') - clock.now().getTime();
    expect(Math.abs(recreated.delay - dueIn)).toBeLessThan(10_000);

    clock.set(new Date('2026-11-01T11:59:58Z'));
    await (await queues.deliveries.getJob(nyJobId))?.promote();
    for (const row of await waitFor('New York at 07:00 EST', sentTo(byZone('America/New_York'))))
      expect(row.sent_at! >= '2026-11-01T12:00:00.000Z').toBe(true);

    const report = await waitForCampaign(app, id, (r) => r.status === 'sent');
    expect(report).toMatchObject({ total: zones.length, sent: zones.length, pending: 0 });
    const counts = sink.countsByRecipient();
    for (const email of emails) expect(counts.get(email)).toBe(1);
  }, 180_000);
});
