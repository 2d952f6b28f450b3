// `herald subscribers import|add|export|find`, `herald suppressions list|add|remove` and
// `herald bounces ingest FILE.eml…`.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { requireSecret } from '../../config/index.ts';
import type { IngestResult } from '../../subscribers/bounces.ts';
import { recordEvent } from '../../subscribers/events.ts';
import { emailHash, parseEmail } from '../../subscribers/identity.ts';
import {
  digestFrequencies,
  findSubscribers,
  getSubscriber,
  SubscriberInputError,
  subscriberStatuses,
  upsertSubscriber,
} from '../../subscribers/repository.ts';
import {
  addSuppression,
  removeSuppression,
  suppressionReasons,
} from '../../subscribers/suppressions.ts';
import { topicIdSchema } from '../../topics/catalogue.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';

function userError(error: unknown): never {
  if (error instanceof SubscriberInputError) throw new UserError(error.message);
  throw error;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `--${String(issue.path[0] ?? 'option')} ${issue.message}`;
}

const addOptions = z.object({
  name: z.string().optional(),
  topics: z.string().optional(),
  timezone: z.string().optional(),
  digest: z.enum(digestFrequencies, { message: 'must be off, daily or weekly' }).optional(),
  json: z.boolean().optional(),
});

const findOptions = z.object({
  text: z.string().max(254, 'the search text must be at most 254 characters').optional(),
  status: z
    .enum(subscriberStatuses, {
      message: `--status must be one of ${subscriberStatuses.join(', ')}`,
    })
    .optional(),
  topic: topicIdSchema.optional(),
});

function requireEmail(value: string): string {
  const email = parseEmail(value);
  if (!email) throw new UserError(`"${value}" is not a valid email address`);
  return email;
}

export function register(program: Command): void {
  const subscribers = program
    .command('subscribers')
    .description('subscribers: import, add, export');

  subscribers
    .command('import <csv>')
    .description(
      'import CSV (email,name,topics,timezone,digest; topics split by ;), active unless --pending',
    )
    .option('--pending', 'rows come in pending and each new one gets a confirmation email')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { pending?: boolean; json?: boolean }) => {
      if (!existsSync(file)) throw new UserError(`no such file: ${file}`);
      // CSV, mail transport and templates load only here, not for every subscribers command.
      const [{ importSubscribersCsv }, { sendConfirmations }] = await Promise.all([
        import('../../subscribers/import.ts'),
        import('../../subscribers/confirmation.ts'),
      ]);
      await withApp(async (app) => {
        // Confirmation links are signed: without the secret every mail would fail after the
        // rows were stored pending, so refuse before importing anything.
        if (options.pending) requireSecret(app.config);
        const started = performance.now();
        const report = await importSubscribersCsv(app.store.db, createReadStream(file), {
          status: options.pending ? 'pending' : 'active',
        }).catch(userError);
        const seconds = (performance.now() - started) / 1000;
        let confirmations = { sent: 0, failed: 0 };
        if (report.pending.length > 0) {
          // The app's transport, closed (SMTP QUIT) when withApp closes the app.
          confirmations = await sendConfirmations(
            app.store.db,
            app.config,
            await app.transport(),
            report.pending,
            (recipient, error) =>
              app.logger.error(
                { subscriberId: recipient.subscriberId, err: error },
                'subscribers.confirmation.failed',
              ),
          );
        }
        const summary = {
          imported: report.imported,
          updated: report.updated,
          rejected: report.rejected,
          rejectedCount: report.rejectedCount,
          confirmations,
          seconds: Number(seconds.toFixed(3)),
        };
        if (options.json) printJson(summary);
        else {
          process.stdout.write(
            `imported ${report.imported}, updated ${report.updated}, rejected ${report.rejectedCount} (${summary.seconds} s)\n`,
          );
          for (const row of report.rejected) {
            process.stdout.write(
              `  line ${row.line}: ${row.email ?? '(no email)'}: ${row.reason}\n`,
            );
          }
          if (report.rejectedCount > report.rejected.length) {
            process.stdout.write(
              `  … and ${report.rejectedCount - report.rejected.length} more rejected rows\n`,
            );
          }
          if (report.pending.length > 0) {
            process.stdout.write(
              `confirmations sent ${confirmations.sent}, failed ${confirmations.failed}\n`,
            );
          }
        }
        if (report.rejectedCount > 0) process.exitCode = 1;
      });
    });

  subscribers
    .command('add <email>')
    .description('add (or update) one subscriber, already confirmed')
    .option('--name <name>', 'display name')
    .option('--topics <topics>', 'topic ids separated by ;')
    .option('--timezone <zone>', 'IANA time zone, e.g. Europe/Paris')
    .option('--digest <frequency>', 'off, daily or weekly')
    .option('--json', 'print JSON')
    .action(async (email: string, raw: unknown) => {
      const parsed = addOptions.safeParse(raw);
      if (!parsed.success) throw new UserError(firstIssue(parsed.error));
      const options = parsed.data;
      await withApp(async (app) => {
        const result = await upsertSubscriber(app.store.db, {
          email,
          name: options.name,
          topics: options.topics
            ?.split(';')
            .map((t) => t.trim())
            .filter(Boolean),
          timezone: options.timezone,
          digest: options.digest,
          status: 'active',
        }).catch(userError);
        const subscriber = await getSubscriber(app.store.db, result.id);
        if (options.json) printJson({ ...result, subscriber });
        else
          process.stdout.write(
            `${result.created ? 'added' : 'updated'} subscriber ${result.id} (${subscriber?.status})\n`,
          );
      });
    });

  pagedListOptions(
    subscribers
      .command('find [text]')
      .description(
        'subscribers whose address or name contains TEXT (any case), in id order: a JSON array, or {items, next} with --limit/--cursor',
      )
      .option('--status <status>', subscriberStatuses.join(', '))
      .option('--topic <id>', 'following this topic'),
  ).action(
    async (
      text: string | undefined,
      options: { status?: string; topic?: string; limit?: string; cursor?: string; json?: boolean },
    ) => {
      const filter = findOptions.safeParse({ text, status: options.status, topic: options.topic });
      if (!filter.success) {
        const issue = filter.error.issues[0]!;
        throw new UserError(
          issue.path[0] === 'topic' ? `--topic: ${issue.message}` : issue.message,
        );
      }
      await withApp((app) =>
        printList(
          options,
          async (page) =>
            toPage(await findSubscribers(app.store.db, filter.data, page), page.limit, (s) => s.id),
          (s) =>
            `${s.id}  ${s.email}  ${s.status}${s.topics.length > 0 ? `  [${s.topics.join(', ')}]` : ''}`,
        ),
      );
    },
  );

  subscribers
    .command('export')
    .description('print every subscriber as CSV (default) or JSON')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--json', 'same as --format json')
    .action(async (options: { format: string; json?: boolean }) => {
      const format = options.json ? 'json' : options.format;
      if (format !== 'csv' && format !== 'json')
        throw new UserError('--format must be csv or json');
      // The CSV writer loads only for export.
      const { exportSubscribersCsv, exportSubscribersJson } = await import(
        '../../subscribers/import.ts'
      );
      await withApp(async (app) => {
        const stream =
          format === 'csv'
            ? exportSubscribersCsv(app.store.db)
            : exportSubscribersJson(app.store.db);
        await pipeline(stream, process.stdout, { end: false });
      });
    });

  const suppressions = program
    .command('suppressions')
    .description('the suppression list: addresses never mailed again');

  suppressions
    .command('list')
    .description('list suppressed addresses (erased ones show only their hash)')
    .option('--reason <reason>', suppressionReasons.join(', '))
    .option('--json', 'print JSON')
    .action(async (options: { reason?: string; json?: boolean }) => {
      const reason = z.enum(suppressionReasons).optional().safeParse(options.reason);
      if (!reason.success)
        throw new UserError(`--reason must be one of ${suppressionReasons.join(', ')}`);
      await withApp(async (app) => {
        let query = app.store.db.selectFrom('suppressions').selectAll().orderBy('id');
        if (reason.data) query = query.where('reason', '=', reason.data);
        const rows = await query.execute();
        const list = rows.map((r) => ({
          emailHash: r.email_hash,
          email: r.email,
          reason: r.reason,
          note: r.note,
          createdAt: r.created_at,
        }));
        if (options.json) printJson({ suppressions: list });
        else
          for (const row of list) {
            process.stdout.write(
              `${row.createdAt}  ${row.reason.padEnd(11)}  ${row.email ?? `(hash ${row.emailHash.slice(0, 12)}…)`}${row.note ? `  ${row.note}` : ''}\n`,
            );
          }
      });
    });

  suppressions
    .command('add <email>')
    .description('suppress an address (reason manual unless given)')
    .option('--reason <reason>', suppressionReasons.join(', '), 'manual')
    .option('--note <note>', 'why')
    .option('--json', 'print JSON')
    .action(async (value: string, options: { reason: string; note?: string; json?: boolean }) => {
      const email = requireEmail(value);
      const reason = z.enum(suppressionReasons).safeParse(options.reason);
      if (!reason.success)
        throw new UserError(`--reason must be one of ${suppressionReasons.join(', ')}`);
      await withApp(async (app) => {
        const { added } = await addSuppression(
          app.store.db,
          email,
          reason.data,
          options.note ?? null,
        );
        app.logger.info(
          { emailHash: emailHash(email), reason: reason.data, added },
          'suppressions.added',
        );
        if (options.json) printJson({ added, emailHash: emailHash(email) });
        else process.stdout.write(added ? 'suppressed\n' : 'already suppressed\n');
      });
    });

  suppressions
    .command('remove <email>')
    .description('lift a suppression (an admin action; logged and recorded as an event)')
    .option('--json', 'print JSON')
    .action(async (value: string, options: { json?: boolean }) => {
      const email = requireEmail(value);
      await withApp(async (app) => {
        const result = await removeSuppression(app.store.db, email);
        const hash = emailHash(email);
        if (result.removed) {
          await recordEvent(app.store.db, 'suppression.removed', {
            detail: { emailHash: hash, reason: result.reason, by: 'cli' },
          });
          app.logger.warn({ emailHash: hash, reason: result.reason }, 'suppressions.removed');
        }
        if (options.json) printJson({ ...result, emailHash: hash });
        else
          process.stdout.write(
            result.removed ? `removed (was ${result.reason})\n` : 'not suppressed\n',
          );
        if (!result.removed) process.exitCode = 1;
      });
    });

  const bounces = program.command('bounces').description('bounce and complaint reports');
  bounces
    .command('ingest <files...>')
    .description('apply DSN bounce or ARF complaint messages (.eml files)')
    .option('--json', 'print JSON')
    .action(async (files: string[], options: { json?: boolean }) => {
      // The mail parser loads only for bounce reports.
      const { ingestReport } = await import('../../subscribers/bounces.ts');
      await withApp(async (app) => {
        const results: Array<IngestResult & { file: string }> = [];
        for (const file of files) {
          let raw: Buffer;
          try {
            raw = readFileSync(file);
          } catch (error) {
            results.push({ file, ok: false as const, reason: (error as Error).message });
            continue;
          }
          const result = await ingestReport(app.store.db, raw, {
            secret: app.config.HERALD_SECRET,
            softBounceLimit: app.config.SOFT_BOUNCE_LIMIT,
            softBounceWindowDays: app.config.SOFT_BOUNCE_WINDOW_DAYS,
          });
          if (!result.ok)
            app.logger.warn({ file, reason: result.reason }, 'bounces.report.unreadable');
          results.push({ file, ...result });
        }
        if (options.json) printJson({ results });
        else
          for (const r of results) {
            process.stdout.write(
              r.ok
                ? `${r.file}: ${r.kind} → ${r.outcome} (subscriber ${r.subscriberId}${r.campaignId ? `, campaign ${r.campaignId}` : ''})\n`
                : `${r.file}: not applied: ${r.reason}\n`,
            );
          }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      });
    });
}
