import { CompiledQuery, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { nextLocalOccurrence, parseLocalTime } from '../src/campaigns/schedule.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import { batchJobId } from '../src/delivery/jobs.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import { warmMjmlCompiler } from '../src/templates/mjml-process.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { mjmlCompilerPids } from './helpers/processes.ts';
import { insertCampaign } from './helpers/rows.ts';
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

describe.each(DIALECTS)('ledger preparation on %s (no workers)', (dialect) => {
  let t: TestStore;
  let herald: RunningHerald;
  const TOPIC = 'russia-china-relations';

  beforeAll(async () => {
    t = await openTestStore(dialect);
    herald = await startHerald(testEnv(t.databaseUrl, { BATCH_SIZE: '3' }), false);
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  const deps = () => ({
    db: herald.app.store.db,
    config: herald.app.config,
    logger: herald.app.logger,
    queues: herald.queues,
    now: () => new Date(),
  });
  const ledger = (campaignId: number) =>
    herald.app.store.db
      .selectFrom('deliveries')
      .select(['subscriber_id', 'status', 'batch_no', 'due_at'])
      .where('campaign_id', '=', campaignId)
      .orderBy('subscriber_id')
      .execute();

  /** Followers of `topic`: 0, 3..11 of 12 subscribers in three zones (1 follows another, 2 left). */
  async function seedAudience(tag: string, topic: string) {
    const db = herald.app.store.db;
    const zones = ['Europe/Paris', 'Asia/Kolkata', 'America/New_York'];
    const people = Array.from({ length: 12 }, (_, i) => ({
      email: i === 6 ? `Mixed.Case.${tag}@example.net` : `${tag}${i}@example.net`,
      topics: i === 1 ? ['climate'] : [topic],
      status: i === 2 ? ('unsubscribed' as const) : ('active' as const),
      timezone: zones[i % 3]!,
    }));
    const ids = await seedSubscribers(db, people);
    return { ids, people, followers: [0, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => ids[i]!) };
  }

  it('writes pages of BATCH_SIZE in SQL: suppressed rows by hash, a job only where something is pending', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    const { followers } = await seedAudience('now', TOPIC);
    // The second page (followers 5, 6, 7) is all suppressed; 6 as an erased address (its hash
    // only), listed in another letter case than it is stored.
    const now = new Date().toISOString();
    await db
      .insertInto('suppressions')
      .values([
        {
          email_hash: emailHash('now5@example.net'),
          email: 'now5@example.net',
          reason: 'manual',
          created_at: now,
        },
        {
          email_hash: emailHash('MIXED.CASE.NOW@EXAMPLE.NET'),
          email: null,
          reason: 'erased',
          created_at: now,
        },
        {
          email_hash: emailHash('now7@example.net'),
          email: 'now7@example.net',
          reason: 'hard-bounce',
          created_at: now,
        },
      ])
      .execute();
    const campaignId = await insertCampaign(db, {
      article_ids: JSON.stringify([article.id]),
      audience_topics: JSON.stringify([TOPIC]),
      status: 'sending',
      started_at: now,
    });

    const result = await fanOutCampaign(deps(), campaignId);

    expect(result).toEqual({ outcome: 'prepared', batches: 3 });
    const rows = await ledger(campaignId);
    expect(rows.map((row) => row.subscriber_id)).toEqual(followers);
    expect(rows.map((row) => [row.status, row.batch_no, row.due_at])).toEqual([
      ['pending', 1, null],
      ['pending', 1, null],
      ['pending', 1, null],
      ['suppressed', 2, null],
      ['suppressed', 2, null],
      ['suppressed', 2, null],
      ['pending', 3, null],
      ['pending', 3, null],
      ['pending', 3, null],
      ['pending', 4, null],
    ]);
    const jobs = await herald.queues.deliveries.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(
      jobs
        .map((job) => job.id)
        .filter((id) => id?.startsWith(`b-${campaignId}-`))
        .sort(),
    ).toEqual([1, 3, 4].map((batchNo) => batchJobId(campaignId, batchNo)).sort());
    const campaign = await db
      .selectFrom('campaigns')
      .select(['status', 'prepared_at'])
      .where('id', '=', campaignId)
      .executeTakeFirstOrThrow();
    expect(campaign.status).toBe('sending');
    expect(campaign.prepared_at).not.toBeNull();

    // A second run (a retried fan-out job) writes nothing twice and keeps every row.
    await db
      .updateTable('campaigns')
      .set({ prepared_at: null })
      .where('id', '=', campaignId)
      .execute();
    await fanOutCampaign(deps(), campaignId);
    expect(await ledger(campaignId)).toEqual(rows);
  });

  it('writes every page while the compile runs, and adds the batch jobs once it has succeeded', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    // 70 followers: three pages (30 = 10 batches of 3 each), 24 batches. The topic is named
    // per dialect: the compiled newsletter is cached by its input, which holds the topic names.
    const topic = `held-${dialect}`;
    const ids = await seedSubscribers(
      db,
      Array.from({ length: 70 }, (_, i) => ({ email: `held${i}@example.net`, topics: [topic] })),
    );
    const campaignId = await insertCampaign(db, {
      article_ids: JSON.stringify([article.id]),
      audience_topics: JSON.stringify([topic]),
      status: 'sending',
      started_at: new Date().toISOString(),
    });
    const campaignJobs = async () =>
      (await herald.queues.deliveries.getJobs(['waiting', 'delayed', 'prioritized', 'active']))
        .map((job) => job.id)
        .filter((id) => id?.startsWith(`b-${campaignId}-`));

    // Each page's INSERT notes how many turns of the event loop (a chain of setImmediate) had
    // run: the pages must leave the loop turning (SQLite's statements are synchronous, and a
    // starved loop would not even read the compiler's reply).
    let turns = 0;
    let turning = true;
    const turn = () => {
      turns++;
      if (turning) setImmediate(turn);
    };
    setImmediate(turn);
    const turnsAtPage: number[] = [];
    const pageWrites: KyselyPlugin = {
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode') turnsAtPage.push(turns);
        return args.node;
      },
      transformResult: async (args) => args.result,
    };

    // The compiler is held (SIGSTOP) so the compile cannot finish before the pages are written.
    warmMjmlCompiler();
    const compilers = mjmlCompilerPids();
    expect(compilers.length).toBeGreaterThan(0);
    for (const pid of compilers) process.kill(pid, 'SIGSTOP');
    let fanOut: Promise<unknown> | undefined;
    try {
      fanOut = fanOutCampaign({ ...deps(), db: db.withPlugin(pageWrites) }, campaignId);
      const deadline = Date.now() + 20_000;
      while ((await ledger(campaignId)).length < ids.length && Date.now() < deadline)
        await new Promise((done) => setTimeout(done, 50));
      expect((await ledger(campaignId)).length).toBe(ids.length);
      expect(await campaignJobs()).toEqual([]);
    } finally {
      for (const pid of compilers) process.kill(pid, 'SIGCONT');
      turning = false;
    }
    // Three pages (and possibly the statement that finds nothing left), each after a turn.
    expect(turnsAtPage.length).toBeGreaterThanOrEqual(3);
    turnsAtPage.forEach((atPage, i) => {
      if (i > 0) expect(atPage).toBeGreaterThan(turnsAtPage[i - 1]!);
    });

    expect(await fanOut).toEqual({ outcome: 'prepared', batches: 24 });
    expect((await campaignJobs()).sort()).toEqual(
      Array.from({ length: 24 }, (_, i) => batchJobId(campaignId, i + 1)).sort(),
    );
  });

  it('pauses a campaign whose template fails with the reason, adding no batch job', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    await seedAudience('broken', 'russia');
    // `welcome` is a stored template but no campaign's: compiling it as a newsletter fails.
    const campaignId = await insertCampaign(db, {
      article_ids: JSON.stringify([article.id]),
      audience_topics: JSON.stringify(['russia']),
      status: 'sending',
      started_at: new Date().toISOString(),
      template: 'welcome',
    });

    expect(await fanOutCampaign(deps(), campaignId)).toEqual({
      outcome: 'template-failed',
      batches: 0,
    });
    const campaign = await db
      .selectFrom('campaigns')
      .select(['status', 'status_reason', 'prepared_at'])
      .where('id', '=', campaignId)
      .executeTakeFirstOrThrow();
    expect(campaign).toMatchObject({ status: 'paused', prepared_at: null });
    expect(campaign.status_reason).toMatch(/^template failed: /);
    // The compile ran beside the pages' INSERTs: pages may be written (a resume continues
    // from them), but no batch job was added.
    const jobs = await herald.queues.deliveries.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.filter((job) => job.id?.startsWith(`b-${campaignId}-`))).toEqual([]);
  });

  it('plans a local-time campaign per zone: one batch per due instant within each page', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    const { followers, people, ids } = await seedAudience('local', 'ukraine-war');
    const anchor = new Date(Date.now() - 60_000).toISOString();
    const campaignId = await insertCampaign(db, {
      article_ids: JSON.stringify([article.id]),
      audience_topics: JSON.stringify(['ukraine-war']),
      status: 'scheduled',
      scheduled_at: anchor,
      local_time: '09:00',
    });

    await fanOutCampaign(deps(), campaignId);

    const rows = await ledger(campaignId);
    expect(rows.map((row) => row.subscriber_id)).toEqual(followers);
    const zoneOf = new Map(ids.map((id, i) => [id, people[i]!.timezone]));
    const nine = parseLocalTime('09:00')!;
    for (const row of rows)
      expect(row.due_at).toBe(
        nextLocalOccurrence(nine, zoneOf.get(row.subscriber_id)!, new Date(anchor)).toISOString(),
      );
    // Pages of three in id order; within a page one batch per due instant, earliest first.
    const expected: number[] = [];
    let batchNo = 0;
    for (let page = 0; page < rows.length; page += 3) {
      const dues = [...new Set(rows.slice(page, page + 3).map((row) => row.due_at!))].sort();
      for (const row of rows.slice(page, page + 3))
        expected.push(batchNo + 1 + dues.indexOf(row.due_at!));
      batchNo += dues.length;
    }
    expect(rows.map((row) => row.batch_no)).toEqual(expected);
    const jobs = (await herald.queues.deliveries.getJobs(['delayed', 'waiting'])).filter((job) =>
      job.id?.startsWith(`b-${campaignId}-`),
    );
    expect(jobs.map((job) => job.id).sort()).toEqual(
      [...new Set(expected)].map((n) => batchJobId(campaignId, n)).sort(),
    );
    for (const job of jobs) {
      const due = rows.find((row) => batchJobId(campaignId, row.batch_no) === job.id)!.due_at!;
      if (Date.parse(due) > Date.now() + 5_000) expect(job.opts.delay).toBeGreaterThan(0);
    }
  });
});

describe('ledger preparation on sqlite: the query plan of a page', () => {
  let t: TestStore;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    herald = await startHerald(testEnv(t.databaseUrl, { BATCH_SIZE: '3' }), false);
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  it('walks the subscriber id range, not every active subscriber through the status index', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    await seedSubscribers(
      db,
      Array.from({ length: 40 }, (_, i) => ({ email: `plan${i}@example.net`, topics: ['plan'] })),
    );
    const campaignId = await insertCampaign(db, {
      article_ids: JSON.stringify([article.id]),
      audience_topics: JSON.stringify(['plan']),
      status: 'sending',
      started_at: new Date().toISOString(),
    });
    // Each page's INSERT as it reaches the database.
    const pageInserts: CompiledQuery[] = [];
    const capture: KyselyPlugin = {
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode')
          pageInserts.push(db.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    await fanOutCampaign(
      {
        db: db.withPlugin(capture),
        config: herald.app.config,
        logger: herald.app.logger,
        queues: herald.queues,
        now: () => new Date(),
      },
      campaignId,
    );

    expect(pageInserts.length).toBeGreaterThanOrEqual(2);
    const page = pageInserts[1]!;
    const plan = await db.executeQuery<{ detail: string }>(
      CompiledQuery.raw(`explain query plan ${page.sql}`, [...page.parameters]),
    );
    const steps = plan.rows.map((row) => row.detail);
    // Through the status index a page read every active subscriber and sorted them by id:
    // fan-out time grew with the square of the audience.
    expect(steps).toContainEqual(
      expect.stringMatching(/^SEARCH s USING INTEGER PRIMARY KEY \(rowid>\?\)/),
    );
    expect(
      steps.filter((step) => /subscribers_status|TEMP B-TREE FOR ORDER BY/.test(step)),
    ).toEqual([]);
  });
});
