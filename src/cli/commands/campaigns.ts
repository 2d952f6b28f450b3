// `herald campaign create|send|schedule|pause|resume|cancel|status`.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import {
  type ControlDeps,
  cancelCampaign,
  pauseCampaign,
  resumeCampaign,
  scheduleCampaign,
  scheduleCampaignAtLocalTime,
  sendCampaign,
  unscheduleCampaign,
} from '../../campaigns/control.ts';
import { createCampaignSchema, MAX_ID } from '../../campaigns/model.ts';
import { CampaignError, campaignStatus, createCampaign } from '../../campaigns/repository.ts';
import { isKnownZone, resolveAt } from '../../campaigns/schedule.ts';
import { openQueues } from '../../delivery/queues.ts';
import { campaignWarnings } from '../../delivery/renderer.ts';
import { printJson, UserError, withApp } from '../context.ts';

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0 || id > MAX_ID)
    throw new UserError(`campaign id must be a positive whole number, got "${raw}"`);
  return id;
}

/** Runs a campaign action, turning CampaignErrors into one clean line. */
async function withControl<T>(fn: (deps: ControlDeps, app: App) => Promise<T>): Promise<T> {
  return withApp(async (app) => {
    const deps: ControlDeps = {
      db: app.store.db,
      config: app.config,
      queues: openQueues(app),
      now: () => new Date(),
    };
    try {
      return await fn(deps, app);
    } catch (error) {
      if (error instanceof CampaignError) throw new UserError(`${error.field}: ${error.message}`);
      throw error;
    }
  });
}

export function register(program: Command): void {
  const campaign = program.command('campaign').description('create, send and steer campaigns');

  campaign
    .command('create')
    .description('create a draft campaign from articles; prints it with its audience size')
    .requiredOption('--article <id...>', 'article id(s)')
    .option('--topics <a;b>', 'audience topics (default: the articles’ topics)')
    .option('--subject <subject>', 'subject line (default: the first article’s title)')
    .option('--template <name>', 'alert or digest', 'alert')
    .option('--excerpt <n>', 'send the first N paragraphs and a "Continue reading" link')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        article: string[];
        topics?: string;
        subject?: string;
        template: string;
        excerpt?: string;
        json?: boolean;
      }) => {
        const parsed = createCampaignSchema.safeParse({
          articleIds: options.article,
          topics: options.topics,
          subject: options.subject,
          template: options.template,
          excerpt: options.excerpt,
        });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new UserError(`${issue.path.join('.') || 'campaign'}: ${issue.message}`);
        }
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
    ['send', 'send now', sendCampaign],
    ['pause', 'stop new sends within a second', pauseCampaign],
    ['resume', 'continue where it stopped', resumeCampaign],
    ['cancel', 'stop for good', cancelCampaign],
    ['unschedule', 'take a scheduled campaign back to draft', unscheduleCampaign],
  ] as const;
  for (const [name, description, action] of simple) {
    campaign
      .command(`${name} <id>`)
      .description(description)
      .option('--json', 'print JSON')
      .action(async (rawId: string, options: { json?: boolean }) => {
        const id = parseId(rawId);
        await withControl(async (deps) => {
          const result = await action(deps, id);
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
        await withControl(async (deps) => {
          try {
            const result = at
              ? await scheduleCampaign(deps, id, at)
              : await scheduleCampaignAtLocalTime(deps, id, options.localTime ?? '');
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
    .description('the exact message that subscriber would get, as raw MIME and/or HTML')
    .requiredOption('--to <email>', 'the subscriber to personalise for')
    .option('--eml <file>', 'write the raw message (.eml) here')
    .option('--html <file>', 'write the HTML part here')
    .action(async (rawId: string, options: { to: string; eml?: string; html?: string }) => {
      const id = parseId(rawId);
      // The renderer (MJML) loads only for this subcommand.
      const { CampaignPreviewError, previewCampaign } = await import('../../delivery/preview.ts');
      await withControl(async (deps, app) => {
        const preview = await previewCampaign(deps.db, app.config, id, options.to).catch(
          (error: unknown) => {
            if (error instanceof CampaignPreviewError)
              throw new UserError(`--to: ${error.message}`);
            throw error;
          },
        );
        if (options.eml) await writeFile(options.eml, preview.message.raw);
        if (options.html) await writeFile(options.html, preview.html);
        if (!options.eml && !options.html) process.stdout.write(preview.message.raw);
        else
          process.stderr.write(
            `herald: preview of campaign ${id} for subscriber ${preview.subscriberId} written\n`,
          );
      });
    });

  campaign
    .command('status <id>')
    .description('{id,status,total,sent,failed,bounced,suppressed,pending}')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = parseId(rawId);
      await withControl(async (deps) => {
        const report = await campaignStatus(deps.db, id);
        if (options.json) printJson(report);
        else {
          const { status, total, sent, failed, bounced, suppressed, pending, reason } = report;
          process.stdout.write(
            `campaign ${id}: ${status}${reason ? ` (${reason})` : ''}\n  total ${total} · sent ${sent} · pending ${pending} · failed ${failed} · bounced ${bounced} · suppressed ${suppressed}\n`,
          );
        }
      });
    });
}
