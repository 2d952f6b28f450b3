// `herald campaign create|send|schedule|pause|resume|cancel|status`.
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import {
  type ControlDeps,
  cancelCampaign,
  pauseCampaign,
  resumeCampaign,
  scheduleCampaign,
  sendCampaign,
} from '../../campaigns/control.ts';
import { createCampaignSchema } from '../../campaigns/model.ts';
import { CampaignError, campaignStatus, createCampaign } from '../../campaigns/repository.ts';
import { openQueues } from '../../delivery/queues.ts';
import { printJson, UserError, withApp } from '../context.ts';

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0)
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
    .option('--json', 'print JSON')
    .action(
      async (options: {
        article: string[];
        topics?: string;
        subject?: string;
        template: string;
        json?: boolean;
      }) => {
        const parsed = createCampaignSchema.safeParse({
          articleIds: options.article,
          topics: options.topics,
          subject: options.subject,
          template: options.template,
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
          if (options.json) printJson({ ...created, audienceSize });
          else
            process.stdout.write(
              `campaign ${created.id} "${created.subject}" (draft): audience ${audienceSize}\n`,
            );
        });
      },
    );

  const simple = [
    ['send', 'send now', sendCampaign],
    ['pause', 'stop new sends within a second', pauseCampaign],
    ['resume', 'continue where it stopped', resumeCampaign],
    ['cancel', 'stop for good', cancelCampaign],
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
    .description('send at an instant (--at ISO8601)')
    .requiredOption('--at <iso8601>', 'when to send, e.g. 2026-12-01T07:00:00Z')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { at: string; json?: boolean }) => {
      const id = parseId(rawId);
      const at = new Date(options.at);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(options.at) || Number.isNaN(at.getTime())) {
        throw new UserError(
          `--at: "${options.at}" is not an ISO-8601 instant (e.g. 2026-12-01T07:00:00Z)`,
        );
      }
      await withControl(async (deps) => {
        const result = await scheduleCampaign(deps, id, at);
        if (options.json) printJson(result);
        else process.stdout.write(`campaign ${id}: scheduled for ${result.scheduledAt}\n`);
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
