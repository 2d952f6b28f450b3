// Ledger preparation alone, per dialect: N followers (1 in 100 on the suppression list, half of
// those erased: hash only), then (1) fanOutCampaign on a new campaign — audience pages into the
// ledger plus one batch job each — and (2) one digest tick giving all N a daily digest.
// `npm run bench -- --only ledger [--recipients N] [--dialect sqlite|postgres|both]`.
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign, moveCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import { ALL_QUEUES, type Queues } from '../src/delivery/queues.ts';
import { runDigestTick } from '../src/digests/tick.ts';
import { countLedger } from '../src/ledger/ledger.ts';
import { createRedis } from '../src/redis/index.ts';
import { chunk } from '../src/store/db.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import { deletePrefix } from './monitor.ts';
import {
  type BenchDialect,
  createBenchTarget,
  seedFixtureArticle,
  seedFollowers,
  uniqueName,
} from './store.ts';

const TOPIC = 'russia-china-relations';
/** Every SUPPRESS_EVERY-th follower is on the suppression list. */
const SUPPRESS_EVERY = 100;

export interface LedgerResult {
  dialect: BenchDialect;
  recipients: number;
  suppressed: number;
  /** fanOutCampaign: from the call to its return (ledger rows written, batch jobs added). */
  fanOutMs: number;
  batches: number;
  /** One digest tick over the same N subscribers, all due (a daily digest at 07:00 UTC). */
  digestTickMs: number;
  digestQueued: number;
}

/** Seeds a fresh store and times campaign fan-out and a digest tick over N followers. */
export async function runLedgerBench(
  dialect: BenchDialect,
  recipients: number,
): Promise<LedgerResult> {
  const log = (message: string) => process.stderr.write(`[${dialect}] ${message}\n`);
  const target = await createBenchTarget(dialect);
  const prefix = uniqueName('hledger');
  const config = parseConfig({
    DATABASE_URL: target.databaseUrl,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...(process.env.BATCH_SIZE ? { BATCH_SIZE: process.env.BATCH_SIZE } : {}),
  });
  const app = await createApp(config);
  const connection = createRedis(config, 'client');
  const queues = Object.fromEntries(
    ALL_QUEUES.map((name) => [name, new Queue(name, { connection, prefix })]),
  ) as Queues;
  try {
    const db = app.store.db;
    log(`seeding ${recipients} followers`);
    const article = await seedFixtureArticle(db);
    await seedFollowers(db, recipients, TOPIC);
    const subscribers = await db
      .selectFrom('subscribers')
      .select(['id', 'email'])
      .orderBy('id')
      .execute();
    const listed = subscribers.filter((_, i) => i % SUPPRESS_EVERY === 0);
    const now = new Date().toISOString();
    for (const part of chunk(listed, 1_000))
      await db
        .insertInto('suppressions')
        .values(
          part.map((s, i) => ({
            email_hash: emailHash(s.email),
            email: i % 2 === 0 ? s.email : null,
            reason: i % 2 === 0 ? ('hard-bounce' as const) : ('erased' as const),
            created_at: now,
          })),
        )
        .execute();

    const { campaign } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: [TOPIC] }),
      now,
    );
    await moveCampaign(db, campaign.id, ['draft'], 'sending', now, { startedAt: now });
    log('fanOutCampaign');
    const deps = { db, config, logger: app.logger, queues, now: () => new Date() };
    let started = performance.now();
    const fanOut = await fanOutCampaign(deps, campaign.id);
    const fanOutMs = performance.now() - started;
    log(`fanOutCampaign: ${Math.round(fanOutMs)} ms`);
    const ledger = await countLedger(db, campaign.id);
    if (ledger.total !== recipients || ledger.suppressed !== listed.length)
      throw new Error(
        `fan-out wrote ${ledger.total} rows (${ledger.suppressed} suppressed), expected ${recipients} (${listed.length})`,
      );

    // A digest tick at the next 07:05 UTC with the article published an hour before it: all
    // due. (An hour before now fell before the period's "since" from 07:00 to 08:00 UTC, when
    // the next 07:05 is tomorrow's: the tick then found nothing new.)
    const at = new Date();
    at.setUTCHours(7, 5, 0, 0);
    if (at.getTime() <= Date.now()) at.setUTCDate(at.getUTCDate() + 1);
    await db
      .updateTable('articles')
      .set({ published_at: new Date(at.getTime() - 3_600_000).toISOString() })
      .execute();
    await db.updateTable('subscribers').set({ digest: 'daily', send_hour: 7 }).execute();
    // Statistics, as autovacuum gathers them within a minute of a bulk change (seedFollowers
    // says why): without them PostgreSQL plans the tick as if daily digests were rare.
    if (dialect === 'postgres') await sql`analyze subscribers`.execute(db);
    log('digest tick');
    started = performance.now();
    const tick = await runDigestTick(deps, at);
    const digestTickMs = performance.now() - started;
    log(`digest tick: ${Math.round(digestTickMs)} ms`);
    if (tick.queued !== recipients - listed.length)
      throw new Error(`the digest tick queued ${tick.queued} of ${recipients - listed.length}`);
    return {
      dialect,
      recipients,
      suppressed: listed.length,
      fanOutMs,
      batches: fanOut.batches,
      digestTickMs,
      digestQueued: tick.queued,
    };
  } finally {
    await Promise.all(Object.values(queues).map((queue) => queue.close()));
    await deletePrefix(connection, prefix);
    connection.disconnect();
    await app.close();
    await target.dispose();
  }
}
