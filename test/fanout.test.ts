import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCampaign } from '../src/campaigns/control.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

describe.each(DIALECTS)('fan-out on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    sink = await startSmtpSink();
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: sink.url }));
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('sends exactly one email to each eligible follower of 2,000 subscribers', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    expect(article.topics).toContain('russia-china-relations');
    // Even-numbered subscribers follow the topic; the others follow something else.
    const subscribers = Array.from({ length: 2000 }, (_, i) => ({
      email: `reader${i}@example.net`,
      name: i === 60 ? 'Zoë <script>alert(1)</script>' : `Reader ${i}`,
      topics: i % 2 === 0 ? ['russia-china-relations'] : ['climate'],
      // Among followers: 10 unsubscribed, 10 bounced earlier.
      status:
        i % 2 === 0 && i < 40
          ? i < 20
            ? ('unsubscribed' as const)
            : ('bounced' as const)
          : ('active' as const),
    }));
    await seedSubscribers(db, subscribers);
    // 10 active followers are on the suppression list (e.g. a manual suppression).
    const suppressedEmails = subscribers
      .filter((_, i) => i % 2 === 0 && i >= 40 && i < 60)
      .map((s) => s.email);
    await db
      .insertInto('suppressions')
      .values(
        suppressedEmails.map((email) => ({
          email_hash: emailHash(email),
          email,
          reason: 'manual' as const,
          created_at: new Date().toISOString(),
        })),
      )
      .execute();

    const input = createCampaignSchema.parse({
      articleIds: [article.id],
      topics: ['russia-china-relations'],
    });
    const { campaign, audienceSize } = await createCampaign(db, input, new Date().toISOString());
    expect(audienceSize).toBe(1000 - 20 - 10);

    await sendCampaign(
      { db, config: herald.app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');

    const expected = new Set(
      subscribers
        .filter(
          (s, i) => i % 2 === 0 && s.status === 'active' && !suppressedEmails.includes(s.email),
        )
        .map((s) => s.email),
    );
    const counts = sink.countsByRecipient();
    expect(expected.size).toBe(970);
    expect(counts.size).toBe(expected.size);
    for (const email of expected) expect(counts.get(email)).toBe(1);
    for (const email of suppressedEmails) expect(counts.has(email)).toBe(false);

    expect(report).toMatchObject({
      status: 'sent',
      total: 980,
      sent: 970,
      suppressed: 10,
      pending: 0,
      failed: 0,
      bounced: 0,
    });
    expect(report.sent + report.suppressed + report.failed + report.bounced + report.pending).toBe(
      report.total,
    );

    // The message to the subscriber with a hostile name parses, escaped, with both parts.
    const first = sink.messages.find((m) => m.to[0] === 'reader60@example.net');
    expect(first).toBeDefined();
    const parsed = await sink.parse(first!);
    expect(parsed.subject).toBe(article.title);
    expect(parsed.text).toContain('Lavrov');
    expect(parsed.html).toBeTruthy();
    expect(String(parsed.html)).not.toContain('<script>alert(1)</script>');
    expect(first!.raw.toString('utf8')).toMatch(
      /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m,
    );
  });
});
