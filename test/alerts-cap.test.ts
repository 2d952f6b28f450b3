// The alert frequency cap and quiet hours, at send time: never more than the cap per rolling
// 24 hours, even with concurrent campaigns and several store connections (as several worker
// processes would have); nothing in local quiet hours; held-back alerts recorded and in the
// subscriber's next digest; editors' own campaigns not capped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveArticle } from '../src/articles/repository.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { admitAlert, inQuietHours } from '../src/delivery/alert-cap.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { previewDigest } from '../src/digests/preview.ts';
import { openStore } from '../src/store/db.ts';
import { newsroomDb } from '../src/store/schema-newsroom.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

/** A fixed-offset zone whose local hour is now `hour`. */
function zoneAtLocalHour(hour: number, now = new Date()): string {
  let offset = (hour - now.getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  if (offset === 0) return 'UTC';
  // Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

describe('quiet hours', () => {
  it('covers the window in the subscriber’s zone, across midnight', () => {
    const at = new Date('2026-12-01T21:30:00Z');
    expect(inQuietHours('22:00-07:00', 'UTC', at)).toBe(false);
    expect(inQuietHours('22:00-07:00', 'Europe/Berlin', at)).toBe(true); // 22:30
    expect(inQuietHours('22:00-07:00', 'Asia/Tokyo', at)).toBe(true); // 06:30
    expect(inQuietHours('22:00-07:00', 'America/New_York', at)).toBe(false); // 16:30
    expect(inQuietHours('13:00-14:00', 'UTC', new Date('2026-12-01T13:10:00Z'))).toBe(true);
    expect(inQuietHours('off', 'Europe/Berlin', at)).toBe(false);
    expect(inQuietHours('22:00-07:00', 'Not/AZone', at)).toBe(false);
  });
});

describe.each(DIALECTS)('alert frequency cap (%s)', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        ALERT_DAILY_CAP: '3',
        ALERT_QUIET_HOURS: '22:00-07:00',
      }),
    );
    await ensureCatalogue(herald.app.store.db);
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('admits at most the cap across concurrent connections, counting a retry once', async () => {
    const db = herald.app.store.db;
    const [subscriberId] = await seedSubscribers(db, [
      { email: 'race@example.org', topics: ['china'] },
    ]);
    const second = await openStore(t.target, { migrate: false });
    try {
      const now = new Date();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          admitAlert(i % 2 ? second.db : db, dialect, subscriberId!, 1000 + i, 3, now),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(3);
      const admitted = 1000 + results.indexOf(true);
      expect(await admitAlert(db, dialect, subscriberId!, admitted, 3, now)).toBe(true);
      const later = new Date(now.getTime() + 24 * 3_600_000 + 1_000);
      expect(await admitAlert(second.db, dialect, subscriberId!, 2000, 3, later)).toBe(true);
    } finally {
      await second.close();
    }
  });

  it('sends at most the cap, nothing in quiet hours, and folds the rest into the digest', async () => {
    const db = herald.app.store.db;
    const topics = ['china', 'russia', 'climate'];
    const [capped, quiet] = await seedSubscribers(db, [
      { email: 'many@example.org', topics, timezone: zoneAtLocalHour(12) },
      { email: 'asleep@example.org', topics, timezone: zoneAtLocalHour(2) },
    ]);
    await db.updateTable('subscribers').set({ digest: 'daily' }).execute();
    const stamp = new Date().toISOString();
    const alertIds: number[] = [];
    const articleIds: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { article } = await saveArticle(db, {
        title: `Breaking news number ${i + 1}`,
        paragraphs: [`Something happened, part ${i + 1}.`],
        topics: [topics[i % 3]!],
      });
      articleIds.push(article.id);
      const { campaign } = await createCampaign(
        db,
        { articleIds: [article.id], template: 'alert' },
        stamp,
      );
      await newsroomDb(db)
        .insertInto('alert_campaigns')
        .values({
          article_id: article.id,
          campaign_id: campaign.id,
          rule_id: 0,
          mode: 'approval',
          send_at: null,
          placed_at: null,
          created_at: stamp,
        })
        .execute();
      alertIds.push(campaign.id);
    }
    const controls = {
      db,
      config: herald.app.config,
      queues: herald.queues,
      now: () => new Date(),
    };
    // All five at once: the cap must hold across campaigns sending side by side.
    await Promise.all(alertIds.map((id) => sendCampaign(controls, id)));
    for (const id of alertIds) {
      await waitForCampaign(herald.app, id, (r) => r.status === 'sent', 60_000);
    }
    const counts = sink.countsByRecipient();
    expect(counts.get('many@example.org')).toBe(3);
    expect(counts.get('asleep@example.org') ?? 0).toBe(0);

    const held = await newsroomDb(db)
      .selectFrom('alert_held')
      .selectAll()
      .orderBy('subscriber_id')
      .execute();
    expect(held.filter((h) => h.subscriber_id === capped).map((h) => h.reason)).toEqual([
      'cap',
      'cap',
    ]);
    expect(held.filter((h) => h.subscriber_id === quiet).map((h) => h.reason)).toEqual(
      Array(5).fill('quiet-hours'),
    );

    // An editor's own campaign is not an alert: not capped.
    const { campaign: own } = await createCampaign(
      db,
      { articleIds: [articleIds[0]!], template: 'alert', topics: ['china'] },
      stamp,
    );
    await sendCampaign(controls, own.id);
    await waitForCampaign(herald.app, own.id, (r) => r.status === 'sent', 60_000);
    expect(sink.countsByRecipient().get('many@example.org')).toBe(4);

    // Held-back alerts are in each subscriber's next digest.
    const heldArticles = (subscriberId: number) =>
      held
        .filter((h) => h.subscriber_id === subscriberId)
        .flatMap((h) => JSON.parse(h.article_ids) as number[]);
    const tomorrow = new Date(Date.now() + 24 * 3_600_000);
    for (const [email, id] of [
      ['many@example.org', capped!],
      ['asleep@example.org', quiet!],
    ] as const) {
      const digest = await previewDigest(db, herald.app.config, email, tomorrow);
      const inDigest = digest.articles.map((a) => a.id);
      expect(heldArticles(id).length).toBeGreaterThan(0);
      for (const articleId of heldArticles(id)) expect(inDigest).toContain(articleId);
    }
  });
});
