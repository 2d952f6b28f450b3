// `herald campaign create|send|schedule|pause|resume|cancel|status`.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { readAudiencePage } from '../../campaigns/audience.ts';
import { createCampaignSchema, MAX_ID, templateChoices } from '../../campaigns/model.ts';
import {
  CampaignError,
  campaignStatus,
  createCampaign,
  listCampaigns,
  requireCampaign,
} from '../../campaigns/repository.ts';
import type { ControlDeps } from '../../delivery/control.ts';
import type { CampaignKind, CampaignStatus } from '../../store/schema.ts';
import { getSubscriber } from '../../subscribers/repository.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';
import { registerCampaignReport } from './campaign-report.ts';

const campaignStatuses = ['draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled'] as const;
const campaignKinds = ['campaign', 'digest', 'confirmation'] as const;
const listFilterSchema = z.object({
  status: z
    .enum(campaignStatuses satisfies readonly CampaignStatus[], {
      message: `--status must be one of ${campaignStatuses.join(', ')}`,
    })
    .optional(),
  kind: z
    .enum(campaignKinds satisfies readonly CampaignKind[], {
      message: `--kind must be one of ${campaignKinds.join(', ')}`,
    })
    .default('campaign'),
});

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0 || id > MAX_ID)
    throw new UserError(`campaign id must be a positive whole number, got "${raw}"`);
  return id;
}

/**
 * The address of one member of the campaign's audience (the first active, unsuppressed
 * follower), for a preview without --to.
 */
async function sampleRecipient(deps: ControlDeps, id: number): Promise<string> {
  const campaign = await requireCampaign(deps.db, id);
  let afterId = 0;
  for (;;) {
    const page = await readAudiencePage(deps.db, campaign.audienceTopics, afterId, 100);
    const member = page.members.find((m) => !m.suppressed);
    if (member) {
      const subscriber = await getSubscriber(deps.db, member.subscriberId);
      if (subscriber) return subscriber.email;
    }
    if (page.lastId === null) break;
    afterId = page.lastId;
  }
  throw new UserError(`campaign ${id} has no one in its audience to preview as: give --to EMAIL`);
}

/**
 * Runs a campaign action that may queue work. A CampaignError is an InputError: reportFatal
 * prints it as one line, exit 2 (or 4 when the campaign's state refuses the action).
 */
async function withControl<T>(
  fn: (deps: ControlDeps, app: App, control: Control) => Promise<T>,
): Promise<T> {
  // BullMQ and ioredis load in app.queues() only, and the control functions (luxon with them)
  // here: read-only commands (status, list) start faster without.
  const control = await import('../../delivery/control.ts');
  return withApp(async (app) =>
    fn(
      { db: app.store.db, config: app.config, queues: await app.queues(), now: () => new Date() },
      app,
      control,
    ),
  );
}

type Control = typeof import('../../delivery/control.ts');

export function register(program: Command): void {
  const campaign = program.command('campaign').description('create, send and steer campaigns');
  registerCampaignReport(campaign);

  campaign
    .command('create')
    .description('create a draft campaign from articles; prints it with its audience size')
    .requiredOption('--article <id...>', 'article id(s)')
    .option('--topics <a;b>', 'audience topics (default: the articles’ topics)')
    .option('--subject <subject>', 'subject line (default: the first article’s title)')
    .option('--template <name>', templateChoices.join(' or '), templateChoices[0])
    .option('--excerpt <n>', 'send the first N paragraphs and a "Continue reading" link')
    .option('--no-archive', 'keep it out of the public archive (no "View in browser" link)')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        article: string[];
        topics?: string;
        subject?: string;
        template: string;
        excerpt?: string;
        archive: boolean;
        json?: boolean;
      }) => {
        const parsed = createCampaignSchema.safeParse({
          articleIds: options.article,
          topics: options.topics,
          subject: options.subject,
          template: options.template,
          excerpt: options.excerpt,
          archive: options.archive,
        });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new UserError(`${issue.path.join('.') || 'campaign'}: ${issue.message}`);
        }
        // The renderer (MJML) loads only for the warnings of a new campaign.
        const { campaignWarnings } = await import('../../delivery/renderer.ts');
        await withControl(async (deps) => {
          const { campaign: created, audienceSize } = await createCampaign(
            deps.db,
            parsed.data,
            deps.now().toISOString(),
          );
          const warnings = await campaignWarnings(deps.db, deps.config, created);
          if (options.json) printJson({ ...created, audienceSize, warnings });
          else {
            process.stdout.write(
              `campaign ${created.id} "${created.subject}" (draft): audience ${audienceSize}\n`,
            );
            for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
          }
        });
      },
    );

  const simple = [
    ['send', 'send now', 'sendCampaign'],
    ['pause', 'stop new sends within a second', 'pauseCampaign'],
    ['resume', 'continue where it stopped', 'resumeCampaign'],
    ['cancel', 'stop for good', 'cancelCampaign'],
    ['unschedule', 'take a scheduled campaign back to draft', 'unscheduleCampaign'],
  ] as const;
  for (const [name, description, action] of simple) {
    campaign
      .command(`${name} <id>`)
      .description(description)
      .option('--json', 'print JSON')
      .action(async (rawId: string, options: { json?: boolean }) => {
        const id = parseId(rawId);
        await withControl(async (deps, _app, control) => {
          const result = await control[action](deps, id);
          if (options.json) printJson(result);
          else process.stdout.write(`campaign ${id}: ${result.status}\n`);
        });
      });
  }

  campaign
    .command('schedule <id>')
    .description(
      'send at an instant (--at ISO8601) or at a wall-clock time in each subscriber’s zone (--local-time HH:MM); again to reschedule',
    )
    .option('--at <iso8601>', 'when to send, e.g. 2026-12-01T07:00:00Z')
    .option('--zone <iana>', 'read an --at without offset in this zone, e.g. Europe/Paris')
    .option('--local-time <hh:mm>', 'each subscriber at this time in their own zone, e.g. 07:00')
    .option('--json', 'print JSON')
    .action(
      async (
        rawId: string,
        options: { at?: string; zone?: string; localTime?: string; json?: boolean },
      ) => {
        const id = parseId(rawId);
        if ((options.at === undefined) === (options.localTime === undefined)) {
          throw new UserError('schedule: give exactly one of --at ISO8601 or --local-time HH:MM');
        }
        // Loaded here: luxon is no cost of the other campaign commands.
        const { isKnownZone, resolveAt } = await import('../../campaigns/schedule.ts');
        if (options.zone !== undefined && !isKnownZone(options.zone)) {
          throw new UserError(`--zone: "${options.zone}" is not a known IANA time zone`);
        }
        let at: Date | null = null;
        if (options.at !== undefined) {
          at = resolveAt(options.at, options.zone);
          if (!at) {
            throw new UserError(
              `--at: "${options.at}" is not an ISO-8601 instant (e.g. 2026-12-01T07:00:00Z, or a local 2026-12-01T07:00 with --zone)`,
            );
          }
        }
        await withControl(async (deps, _app, control) => {
          try {
            const result = at
              ? await control.scheduleCampaign(deps, id, at)
              : await control.scheduleCampaignAtLocalTime(deps, id, options.localTime ?? '');
            if (options.json) printJson(result);
            else
              process.stdout.write(
                result.localTime
                  ? `campaign ${id}: scheduled at ${result.localTime} in each subscriber’s zone (first send ${result.scheduledAt})\n`
                  : `campaign ${id}: scheduled for ${result.scheduledAt}\n`,
              );
          } catch (error) {
            // Name the option the editor typed.
            if (error instanceof CampaignError && error.field === 'at')
              throw new UserError(`--at: ${error.message}`);
            if (error instanceof CampaignError && error.field === 'localTime')
              throw new UserError(`--local-time: ${error.message}`);
            throw error;
          }
        });
      },
    );

  campaign
    .command('preview <id>')
    .description(
      'the exact message one subscriber would get: prints a short summary and writes its HTML to a file (the path is printed); --eml writes the raw message',
    )
    .option('--to <email>', 'the subscriber to personalise for (default: one of the audience)')
    .option('--eml <file>', 'write the raw message (.eml) here')
    .option('--html <file>', 'write the HTML here (default: a file in the temp directory)')
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        rawId: string,
        options: { to?: string; eml?: string; html?: string; json?: boolean },
      ) => {
        const id = parseId(rawId);
        // The renderer (MJML) loads only for this subcommand.
        const { CampaignPreviewError, previewCampaign } = await import('../../delivery/preview.ts');
        await withControl(async (deps, app) => {
          const to = options.to ?? (await sampleRecipient(deps, id));
          const preview = await previewCampaign(deps.db, app.config, id, to).catch(
            (error: unknown) => {
              if (error instanceof CampaignPreviewError)
                throw new UserError(`--to: ${error.message}`);
              throw error;
            },
          );
          const htmlPath = resolve(
            options.html ?? join(tmpdir(), `herald-preview-campaign-${id}.html`),
          );
          await writeFile(htmlPath, preview.html);
          const emlPath = options.eml ? resolve(options.eml) : null;
          if (emlPath) await writeFile(emlPath, preview.message.raw);
          const { simpleParser } = await import('mailparser');
          const headers = (await simpleParser(preview.message.raw)).headers;
          const summary = {
            campaignId: id,
            subscriberId: preview.subscriberId,
            to,
            sample: options.to === undefined,
            subject: String(headers.get('subject') ?? ''),
            bytes: preview.message.raw.length,
            htmlBytes: Buffer.byteLength(preview.html),
            html: htmlPath,
            eml: emlPath,
          };
          if (options.json) {
            printJson(summary);
            return;
          }
          process.stdout.write(
            `${[
              `campaign ${id} as subscriber ${summary.subscriberId} <${to}>${summary.sample ? ' (a sample of the audience; --to picks one)' : ''} would get:`,
              `  subject: ${summary.subject}`,
              `  size: ${(summary.bytes / 1024).toFixed(1)} kB raw, ${(summary.htmlBytes / 1024).toFixed(1)} kB HTML`,
              `  html: ${htmlPath}`,
              ...(emlPath ? [`  eml: ${emlPath}`] : ['  raw message: add --eml FILE']),
            ].join('\n')}\n`,
          );
        });
      },
    );

  pagedListOptions(
    campaign
      .command('list')
      .description('campaigns, newest first: a JSON array, or {items, next} with --limit/--cursor')
      .option('--status <status>', campaignStatuses.join(', '))
      .option('--kind <kind>', `${campaignKinds.join(', ')} (default campaign)`),
  ).action(
    async (options: {
      status?: string;
      kind?: string;
      limit?: string;
      cursor?: string;
      json?: boolean;
    }) => {
      const filter = listFilterSchema.safeParse(options);
      if (!filter.success) throw new UserError(filter.error.issues[0]!.message);
      await withApp((app) =>
        printList(
          options,
          async (page) =>
            toPage(await listCampaigns(app.store.db, filter.data, page), page.limit, (c) => c.id),
          (c) =>
            `${c.id}  ${c.status.padEnd(9)}  ${c.subject}${c.scheduledAt && c.status === 'scheduled' ? `  (at ${c.localTime ? `${c.localTime} local, first ` : ''}${c.scheduledAt})` : ''}`,
        ),
      );
    },
  );

  campaign
    .command('status <id>')
    .description(
      '{id,status,total,sent,failed,bounced,suppressed,pending}, and when: scheduledAt, localTime, zones [{zone, at}]',
    )
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = parseId(rawId);
      await withApp(async (app) => {
        const report = await campaignStatus(app.store.db, id);
        if (options.json) printJson(report);
        else {
          const { status, total, sent, failed, bounced, suppressed, pending, reason } = report;
          const lines = [
            `campaign ${id}: ${status}${reason ? ` (${reason})` : ''}`,
            `  total ${total} · sent ${sent} · pending ${pending} · failed ${failed} · bounced ${bounced} · suppressed ${suppressed}`,
          ];
          if (status === 'scheduled' && report.scheduledAt)
            lines.push(
              report.localTime
                ? `  scheduled at ${report.localTime} in each subscriber’s zone, first at ${report.scheduledAt}`
                : `  scheduled for ${report.scheduledAt}`,
            );
          for (const zone of report.zones ?? []) lines.push(`  ${zone.zone}: ${zone.at}`);
          process.stdout.write(`${lines.join('\n')}\n`);
        }
      });
    });

  campaign
    .command('archive <id>')
    .description('show or set whether the campaign is in the public archive: {id, archive, url}')
    .option('--off', 'keep it out of the archive (its page answers 404)')
    .option('--on', 'put it (back) in the archive')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { off?: boolean; on?: boolean; json?: boolean }) => {
      const id = parseId(rawId);
      if (options.off && options.on) throw new UserError('give --on or --off, not both');
      const { setArchived } = await import('../../archive/repository.ts');
      const { archiveUrl, isArchivable } = await import('../../campaigns/archive-links.ts');
      await withApp(async (app) => {
        const now = new Date().toISOString();
        const current =
          options.off || options.on
            ? await setArchived(app.store.db, id, Boolean(options.on), now)
            : await requireCampaign(app.store.db, id);
        const result = {
          id,
          archive: current.archive,
          url: isArchivable(current) ? archiveUrl(app.config.PUBLIC_URL, current) : null,
        };
        if (options.json) printJson(result);
        else
          process.stdout.write(
            `campaign ${id}: ${result.archive ? `archived${result.url ? ` (${result.url} once sent)` : ''}` : 'kept out of the archive'}\n`,
          );
      });
    });
}
