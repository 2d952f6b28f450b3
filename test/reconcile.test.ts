// The reconciler re-creates only the batch jobs that are lost: a batch whose job finishes
// (and is removed, removeOnComplete) between the reconciler's ledger read and its check of
// Redis has no job and no unsent row, and must not be queued again.
import type { KyselyPlugin, PluginTransformResultArgs, QueryResult, UnknownRow } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import { batchJobId } from '../src/delivery/jobs.ts';
import { reconcile } from '../src/delivery/reconcile.ts';
import { type RunningHerald, startHerald, testEnv } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

/**
 * Runs `whenRead` once, right after the first query whose rows are `{ batch_no }` alone (the
 * reconciler's read of the batches with unsent rows) has returned them.
 */
function afterBatchRead(whenRead: () => Promise<void>): KyselyPlugin {
  let fired = false;
  return {
    transformQuery: (args) => args.node,
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      const rows = args.result.rows;
      const batchRead =
        rows.length > 0 && rows.every((row) => Object.keys(row).join() === 'batch_no');
      if (batchRead && !fired) {
        fired = true;
        await whenRead();
      }
      return args.result;
    },
  };
}

describe.each(DIALECTS)('reconciler on %s', (dialect) => {
  let t: TestStore;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    // No workers: the batch jobs stay as the test leaves them.
    herald = await startHerald(testEnv(t.databaseUrl, { BATCH_SIZE: '100' }), false);
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  it('re-queues a lost batch, not one that finished while it looked', async () => {
    const { app, queues } = herald;
    const db = app.store.db;
    const article = await seedFixtureArticle(db);
    await seedSubscribers(
      db,
      Array.from({ length: 250 }, (_, i) => ({
        email: `reader${i}@example.net`,
        name: `Reader ${i}`,
        topics: ['russia-china-relations'],
        status: 'active' as const,
      })),
    );
    const input = createCampaignSchema.parse({
      articleIds: [article.id],
      topics: ['russia-china-relations'],
    });
    const { campaign } = await createCampaign(db, input, new Date().toISOString());
    const deps = { db, config: app.config, queues, now: () => new Date() };
    await sendCampaign(deps, campaign.id);
    const prepared = await fanOutCampaign({ ...deps, logger: app.logger }, campaign.id);
    expect(prepared.batches).toBe(3);
    // Redis lost every batch job of the campaign…
    for (const batchNo of [1, 2, 3])
      await (await queues.deliveries.getJob(batchJobId(campaign.id, batchNo)))?.remove();
    // …and batch 1 finishes (its job done and removed) just after the reconciler's read, in
    // another process's connection (SQLite's one connection is busy with the read).
    const other = await createApp(parseConfig(herald.env));
    const finishBatchOne = async () => {
      await other.store.db
        .updateTable('deliveries')
        .set({ status: 'sent', sent_at: new Date().toISOString() })
        .where('campaign_id', '=', campaign.id)
        .where('batch_no', '=', 1)
        .execute();
    };
    const result = await reconcile({
      db: db.withPlugin(afterBatchRead(finishBatchOne)),
      redis: app.redis(),
      config: app.config,
      logger: app.logger,
      queues,
      now: () => new Date(),
    });
    await other.close();
    expect(result.batchJobs).toBe(2);
    expect(await queues.deliveries.getJob(batchJobId(campaign.id, 1))).toBeUndefined();
    expect(await queues.deliveries.getJob(batchJobId(campaign.id, 2))).toBeDefined();
    expect(await queues.deliveries.getJob(batchJobId(campaign.id, 3))).toBeDefined();
  });
});
