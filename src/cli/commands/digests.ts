// `herald digests run|preview`: one digest tick as if the clock read an instant; one
// subscriber's digest as they would get it.
import { writeFile } from 'node:fs/promises';
import type { Queue } from 'bullmq';
import type { Command } from 'commander';
import { DigestPreviewError, previewDigest } from '../../digests/preview.ts';
import { runDigestTick } from '../../digests/tick.ts';
import { printJson, UserError, withApp } from '../context.ts';

/** Reads `--at` (an ISO-8601 instant with an offset); the current time when absent. */
function parseAt(raw: string | undefined): Date {
  if (raw === undefined) return new Date();
  const at = new Date(raw);
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}.*(Z|[+-]\d{2}:?\d{2})$/i.test(raw.trim()) ||
    Number.isNaN(at.getTime())
  ) {
    throw new UserError(`--at: "${raw}" is not an ISO-8601 instant (e.g. 2026-12-01T07:00:00Z)`);
  }
  return at;
}

/** Stands in for the deliveries queue in a dry run: reaching it would be a bug, so it throws. */
const refusingQueue = {
  addBulk(): never {
    throw new Error('a dry run must not queue anything');
  },
} as unknown as Queue;

export function register(program: Command): void {
  const digests = program.command('digests').description('daily and weekly digests');

  digests
    .command('run')
    .description(
      'run one digest tick as if the clock read --at (default: now): this QUEUES REAL MAIL to every subscriber whose digest is due then; --dry-run shows who would get what and queues nothing',
    )
    .option('--at <iso8601>', 'the instant the tick pretends it is, e.g. 2026-12-01T07:05:00Z')
    .option('--dry-run', 'list the digests and recipients the tick would queue; send nothing')
    .option('--json', 'print JSON')
    .action(async (options: { at?: string; dryRun?: boolean; json?: boolean }) => {
      const at = parseAt(options.at);
      await withApp(async (app) => {
        const result = await runDigestTick(
          {
            db: app.store.db,
            config: app.config,
            logger: app.logger,
            // A dry run never touches Redis.
            queues: options.dryRun ? { deliveries: refusingQueue } : await app.queues(),
            now: () => new Date(),
          },
          at,
          { dryRun: options.dryRun === true },
        );
        if (options.json) {
          printJson(options.dryRun ? { dryRun: true, ...result } : result);
          return;
        }
        if (!options.dryRun) {
          process.stdout.write(
            `digests at ${result.at}: ${result.queued} queued in ${result.campaigns.length} campaign(s); ${result.due} due, ${result.nothingNew} with nothing new\n`,
          );
          return;
        }
        const plan = result.plan ?? [];
        const recipients = plan.reduce((n, digest) => n + digest.recipients.length, 0);
        const lines = [
          `dry run, nothing queued: digests at ${result.at} would go to ${recipients} subscriber(s) in ${plan.length} digest(s); ${result.due} due, ${result.nothingNew} with nothing new`,
        ];
        for (const digest of plan) {
          const shown = digest.recipients.slice(0, 5).map((r) => r.email);
          const more = digest.recipients.length - shown.length;
          lines.push(
            `  "${digest.subject}" to ${digest.recipients.length}: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
            ...digest.articles.map((article) => `    - ${article.id} ${article.title}`),
          );
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });

  digests
    .command('preview')
    .description('the digest one subscriber would get at --at (default: now), as raw MIME')
    .requiredOption('--to <email>', 'the subscriber’s address')
    .option('--at <iso8601>', 'the instant, e.g. 2026-12-01T07:05:00Z')
    .option('--eml <file>', 'write the raw message (.eml) here and print a JSON summary')
    .action(async (options: { to: string; at?: string; eml?: string }) => {
      const at = parseAt(options.at);
      await withApp(async (app) => {
        let preview: Awaited<ReturnType<typeof previewDigest>>;
        try {
          preview = await previewDigest(app.store.db, app.config, options.to, at);
        } catch (error) {
          if (error instanceof DigestPreviewError)
            throw new UserError(`--${error.field}: ${error.message}`);
          throw error;
        }
        if (!options.eml) {
          process.stdout.write(preview.message.raw);
          return;
        }
        await writeFile(options.eml, preview.message.raw);
        printJson({
          subscriberId: preview.subscriberId,
          since: preview.since,
          until: preview.until,
          articles: preview.articles.map((article) => ({ id: article.id, title: article.title })),
          messageId: preview.message.messageId,
          bytes: preview.message.raw.length,
          eml: options.eml,
        });
      });
    });
}
