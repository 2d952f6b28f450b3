// `herald subscribers import|add|export|find`, `herald suppressions list|add|remove`,
// `herald bounces ingest FILE.eml…` and `herald bounces apply FILE.json`.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { requireSecret } from '../../config/index.ts';
import type { IngestResult } from '../../subscribers/bounces.ts';
import { emailHash, parseEmail } from '../../subscribers/identity.ts';
import {
  digestFrequencies,
  findSubscribers,
  getSubscriber,
  subscriberStatuses,
  upsertSubscriber,
} from '../../subscribers/repository.ts';
import {
  addSuppression,
  liftSuppression,
  listSuppressions,
  suppressionReasons,
} from '../../subscribers/suppressions.ts';
import { topicIdSchema } from '../../topics/catalogue.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';

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
      const { importWithConfirmations } = await import(
        '../../subscribers/import-with-confirmations.ts'
      );
      await withApp(async (app) => {
        // Confirmation links are signed: without the secret every mail would fail after the
        // rows were stored pending, so refuse before importing anything.
        if (options.pending) requireSecret(app.config);
        const started = performance.now();
        const imported = await importWithConfirmations(
          {
            db: app.store.db,
            config: app.config,
            log: app.logger,
            transport: () => app.transport(),
          },
          createReadStream(file),
          { pending: options.pending === true },
        );
        const { report } = imported;
        const seconds = (performance.now() - started) / 1000;
        const confirmations = await imported.confirmations;
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
        });
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
      const { subscriberExport } = await import('../../subscribers/import.ts');
      await withApp(async (app) => {
        const { stream } = subscriberExport(app.store.db, format);
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
        const list = await listSuppressions(
          app.store.db,
          reason.data ? { reason: reason.data } : {},
        );
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
        // Not on the list: a not-found InputError (one line on stderr, exit 2).
        const result = await liftSuppression(app.store.db, app.logger, email, 'cli');
        if (options.json) printJson(result);
        else process.stdout.write(`removed (was ${result.reason})\n`);
      });
    });

  const bounces = program.command('bounces').description('bounce and complaint reports');
  bounces
    .command('apply <file>')
    .description(
      'apply bounce/complaint events saved as JSON (one event or a list, as POST /api/events/bounce takes them)',
    )
    .option('--json', 'print JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      if (!existsSync(file)) throw new UserError(`no such file: ${file}`);
      const { applyBounceEvents, bounceEventsSchema, MAX_EVENTS_FILE_BYTES } = await import(
        '../../subscribers/bounce-webhook.ts'
      );
      // Events come from an outside service: read no more than the API would take.
      if (statSync(file).size > MAX_EVENTS_FILE_BYTES)
        throw new UserError(`${file}: larger than ${MAX_EVENTS_FILE_BYTES} bytes`);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new UserError(`${file}: not JSON: ${(error as Error).message}`);
      }
      const parsed = bounceEventsSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UserError(`${file}: ${issue.path.join('.') || 'event'}: ${issue.message}`);
      }
      await withApp(async (app) => {
        const results = await applyBounceEvents(
          app.store.db,
          {
            secret: app.config.HERALD_SECRET,
            log: app.logger,
            softBounceLimit: app.config.SOFT_BOUNCE_LIMIT,
            softBounceWindowDays: app.config.SOFT_BOUNCE_WINDOW_DAYS,
          },
          Array.isArray(parsed.data) ? parsed.data : [parsed.data],
        );
        if (options.json) printJson({ results });
        else
          for (const [index, r] of results.entries()) {
            process.stdout.write(
              r.ok
                ? `event ${index + 1}: ${r.kind} → ${r.outcome} (subscriber ${r.subscriberId})\n`
                : `event ${index + 1}: not applied: ${r.reason}\n`,
            );
          }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      });
    });
  bounces
    .command('ingest <files...>')
    .description('apply DSN bounce or ARF complaint messages (.eml files)')
    .option('--json', 'print JSON')
    .action(async (files: string[], options: { json?: boolean }) => {
      // The mail parser loads only for bounce reports.
      const { ingestReport, MAX_REPORT_BYTES } = await import('../../subscribers/bounces.ts');
      await withApp(async (app) => {
        const results: Array<IngestResult & { file: string }> = [];
        for (const file of files) {
          let raw: Buffer;
          try {
            // A report comes from outside: the same cap as the bounce listener's.
            if (statSync(file).size > MAX_REPORT_BYTES)
              throw new Error(`larger than ${MAX_REPORT_BYTES} bytes`);
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
