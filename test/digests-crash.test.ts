// Digests through a crash (both SQL dialects): a `herald worker` process ticks every second and
// sends the digests of subscribers whose send hour is now, in two zones; it is SIGKILLed mid-run
// and in-process workers take over (still ticking every second). Nobody is missed, nobody gets a
// second digest for the period in the ledger, and only messages in flight at the kill (accepted
// by the sink, not yet recorded as sent) are repeated.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveArticle } from '../src/articles/repository.ts';
import { articleSchema } from '../src/articles/schema.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { startWorkers } from '../workers/index.ts';
import { type RunningHerald, startHerald, testEnv } from './helpers/herald.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const PER_ZONE = 300;
const ZONES = [
  { zone: 'Europe/Paris', topic: 'climate', title: 'Heatwave in the Alps' },
  { zone: 'America/New_York', topic: 'technology', title: 'Chip plant opens' },
] as const;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(DIALECTS)('digests through a worker crash on %s', (dialect) => {
  let t: TestStore;
  let sink: SmtpSink;
  let herald: RunningHerald;
  let child: ChildProcess | undefined;
  let workers: Service[] = [];

  beforeAll(async () => {
    // The digests are due during the current hour (whole-hour zones): keep clear of its end.
    const intoHour = Date.now() % 3_600_000;
    if (intoHour >= 56 * 60_000)
      await new Promise((r) => setTimeout(r, 3_600_000 - intoHour + 5_000));
    t = await openTestStore(dialect);
    // Slow acceptance keeps messages in flight when the worker dies.
    sink = await startSmtpSink({ delayMs: 40 });
    herald = await startHerald(
      testEnv(t.databaseUrl, {
        SMTP_URL: sink.url,
        SMTP_POOL_SIZE: '2',
        BATCH_SIZE: '50',
        DIGEST_TICK_MS: '1000',
      }),
      false,
    );
  }, 300_000);
  afterAll(async () => {
    child?.kill('SIGKILL');
    for (const worker of [...workers].reverse()) await worker.stop();
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('misses nobody and gives nobody a second digest for the period', async () => {
    const db = herald.app.store.db;
    await ensureCatalogue(db);
    const now = new Date();
    const emails: Record<string, string[]> = {};
    for (const { zone, topic, title } of ZONES) {
      emails[zone] = Array.from({ length: PER_ZONE }, (_, i) => `${topic}-${i}@example.net`);
      const ids = await seedSubscribers(
        db,
        emails[zone].map((email) => ({ email, topics: [topic], timezone: zone })),
      );
      // Their send hour is the current local hour: due at every tick from now on.
      const hour = DateTime.fromJSDate(now, { zone }).hour;
      for (const part of [ids.slice(0, 150), ids.slice(150)])
        await db
          .updateTable('subscribers')
          .set({ digest: 'daily', send_hour: hour })
          .where('id', 'in', part)
          .execute();
      await saveArticle(
        db,
        articleSchema.parse({
          title,
          paragraphs: [`${title}.`],
          topics: [topic],
          publishedAt: new Date(now.getTime() - 20 * 60_000).toISOString(),
        }),
      );
      await saveArticle(
        db,
        articleSchema.parse({
          title: `Old ${title}`,
          paragraphs: ['Old news.'],
          topics: [topic],
          publishedAt: new Date(now.getTime() - 3 * 86_400_000).toISOString(),
        }),
      );
    }
    const everyone = Object.values(emails).flat();

    // One process: the SIGKILL below must crash the process that sends (with the default, one
    // delivery child per core, it would kill their parent and the children would drain);
    // a killed delivery child is test/delivery-processes.test.ts's case.
    child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/herald.js'), 'worker'], {
      env: { ...process.env, ...herald.env, DELIVERY_PROCESSES: '1' },
      stdio: 'ignore',
    });
    await until(
      'the worker to send a share of the digests',
      () => sink.messages.length >= 150,
      90_000,
    );
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // What was in flight: accepted by the sink (connections the kill cut included) but not
    // recorded as sent in the ledger. Only these may be sent twice.
    await new Promise((r) => setTimeout(r, 300));
    const atKill = sink.messages.length;
    expect(atKill).toBeLessThan(everyone.length);
    const recorded = await db
      .selectFrom('deliveries as d')
      .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
      .select('s.email')
      .where('d.status', '=', 'sent')
      .execute();
    const recordedSent = new Set(recorded.map((row) => row.email));
    const inFlight = new Set(
      [...sink.countsByRecipient().keys()].filter((e) => !recordedSent.has(e)),
    );

    // Restarted workers (all of them, the digest tick included, every second).
    workers = await startWorkers(herald.app);
    await until(
      'every subscriber to have a digest',
      () => {
        const counts = sink.countsByRecipient();
        return everyone.every((email) => (counts.get(email) ?? 0) >= 1);
      },
      180_000,
    );
    // A few more ticks of the same hour: still nothing new for anyone.
    await new Promise((r) => setTimeout(r, 3_000));

    const perSubscriber = await db
      .selectFrom('deliveries as d')
      .innerJoin('campaigns as c', 'c.id', 'd.campaign_id')
      .select(['d.subscriber_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('c.kind', '=', 'digest')
      .groupBy('d.subscriber_id')
      .execute();
    expect(perSubscriber).toHaveLength(everyone.length);
    expect(perSubscriber.every((row) => Number(row.n) === 1)).toBe(true);
    const unsent = await db
      .selectFrom('deliveries')
      .select('subscriber_id')
      .where('status', '!=', 'sent')
      .execute();
    expect(unsent).toHaveLength(0);

    const counts = sink.countsByRecipient();
    expect(counts.size).toBe(everyone.length);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([email]) => email);
    process.stderr.write(
      `digests-crash ${dialect}: ${atKill} sent before the kill, ${inFlight.size} in flight, ${repeated.length} repeated\n`,
    );
    expect(repeated.filter((email) => !inFlight.has(email))).toEqual([]);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);

    for (const { zone, title } of ZONES) {
      const message = sink.messages.find((m) => m.to[0] === emails[zone]![0]);
      const text = String((await sink.parse(message!)).text);
      expect(text).toContain(title);
      expect(text).not.toContain(`Old ${title}`);
      for (const other of ZONES.filter((z) => z.zone !== zone))
        expect(text).not.toContain(other.title);
    }
  }, 300_000);
});
