// `herald demo`: the whole path on embedded defaults — the reference article, 1,000 sample
// subscribers, a campaign sent through the real queues into the outbox — then keeps serving.
import type { Command } from 'commander';
import { startWorkers } from '../../../workers/index.ts';
import { createApp, requireRedis } from '../../app.ts';
import { parseArticle } from '../../articles/parse.ts';
import { saveArticle } from '../../articles/repository.ts';
import { createCampaignSchema } from '../../campaigns/model.ts';
import { campaignStatus, createCampaign } from '../../campaigns/repository.ts';
import { loadConfig } from '../../config/index.ts';
import { sendCampaign } from '../../delivery/control.ts';
import { runUntilSignal } from '../../process/lifecycle.ts';
import { importSubscribersCsv } from '../../subscribers/import.ts';
import { keptSecret } from '../../tokens/secret.ts';
import { ensureCatalogue } from '../../topics/catalogue.ts';
import { demoArticleText, demoSubscribersCsv } from '../demo/sample.ts';
import { startHttp } from './start.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** A one-line progress bar, redrawn in place on a terminal. */
function progressLine(done: number, total: number, elapsedMs: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} sent · ${rate}/s`;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'ingest the sample article, add 1,000 sample subscribers, send a campaign into the outbox, keep serving',
    )
    .action(async () => {
      let config = loadConfig();
      // The demo alone may run without HERALD_SECRET: it keeps a generated one in the data dir.
      if (config.HERALD_SECRET === '') {
        config = loadConfig({ HERALD_SECRET: keptSecret(config.dataDir) });
        say(`herald: HERALD_SECRET unset: using the demo's own, kept in ${config.dataDir}/secret`);
      }
      const app = await createApp(config);
      await requireRedis(app);
      const db = app.store.db;
      await ensureCatalogue(db);

      const { article } = await saveArticle(
        db,
        parseArticle({ body: demoArticleText(), filename: 'lavrov-china.txt' }),
      );
      say(
        `herald: article ${article.id} "${article.title}" — topics: ${article.topics.join(', ')}`,
      );
      const imported = await importSubscribersCsv(db, demoSubscribersCsv(), { status: 'active' });
      say(
        `herald: sample subscribers: ${imported.imported} new, ${imported.updated} updated, ${imported.rejected.length} rejected`,
      );

      const workers = await startWorkers(app);
      const http = await startHttp(app);
      const input = createCampaignSchema.parse({
        articleIds: [article.id],
        topics: ['russia-china-relations'],
      });
      const { campaign, audienceSize } = await createCampaign(db, input, new Date().toISOString());
      say(`herald: campaign ${campaign.id} to ${audienceSize} followers of Russia-China relations`);

      const started = Date.now();
      await sendCampaign(
        { db, config: app.config, queues: await app.queues(), now: () => new Date() },
        campaign.id,
      );
      const tty = process.stderr.isTTY;
      let report = await campaignStatus(db, campaign.id);
      while (report.status === 'sending' || report.status === 'scheduled') {
        if (tty)
          process.stderr.write(
            `\r${progressLine(report.sent, audienceSize, Date.now() - started)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 200));
        report = await campaignStatus(db, campaign.id);
      }
      const seconds = (Date.now() - started) / 1000;
      if (tty)
        process.stderr.write(
          `\r${progressLine(report.sent, audienceSize, Date.now() - started)}\n`,
        );
      say(
        `herald: campaign ${campaign.id} ${report.status}: ${report.sent} sent, ${report.suppressed} suppressed, ${report.failed} failed in ${seconds.toFixed(1)} s (${Math.round(report.sent / Math.max(seconds, 0.001))} messages/s)`,
      );
      const where = app.config.SMTP_URL
        ? `the SMTP server at SMTP_URL`
        : `the outbox: ${app.config.outboxDir}`;
      say(`herald: the messages are in ${where}`);
      say(
        `herald: browse them at http://${app.config.HOST}:${http.port}/admin/outbox (create a key: npx herald keys create --role editor)`,
      );
      say(
        `herald: status: npx herald campaign status ${campaign.id} · queues: npx herald queues · Ctrl-C stops`,
      );
      await runUntilSignal(app, [...workers, http]);
      setImmediate(() => process.exit(process.exitCode ?? 0));
    });
}
