// `herald campaign report ID [--json]`: delivery and engagement of one campaign.
import type { Command } from 'commander';
import { MAX_ID } from '../../campaigns/model.ts';
import { type CampaignReport, campaignReport } from '../../engagement/report.ts';
import { printJson, UserError, withApp } from '../context.ts';

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** The report as lines for a terminal. */
export function reportLines(report: CampaignReport): string[] {
  const lines = [
    `campaign ${report.id}: ${report.status} · ${report.subject}`,
    `  delivered ${report.delivered} · bounced ${report.bounced.hard} hard, ${report.bounced.soft} soft · complaints ${report.complaints} · unsubscribes ${report.unsubscribes} (+${report.topicUnsubscribes} from a topic)`,
    `  clicks: ${report.clicks.unique} readers (${percent(report.clicks.rate)}), ${report.clicks.total} in all`,
    ...report.links.map(
      (link) =>
        `    [${link.index}] ${link.uniqueClicks} (${percent(link.clickRate)}), ${link.clicks} in all  ${link.url}`,
    ),
    `  opens (consenting readers only): ${report.opens.human.unique} readers (${percent(report.opens.human.rate)}), ${report.opens.human.total} in all · machine ${report.opens.machine.unique} (${report.opens.machine.total} in all)`,
  ];
  if (report.hourly.length > 0) {
    lines.push('  by hour (UTC): clicks / opens / machine opens');
    for (const hour of report.hourly) {
      lines.push(`    ${hour.hour}  ${hour.clicks} / ${hour.opens} / ${hour.machineOpens}`);
    }
  }
  return lines;
}

/** Adds `report` to the `campaign` command. */
export function registerCampaignReport(campaign: Command): void {
  campaign
    .command('report <id>')
    .description(
      'delivery and engagement: delivered, bounces, complaints, unsubscribes, clicks per link, opens, by hour',
    )
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = Number(rawId);
      if (!Number.isInteger(id) || id <= 0 || id > MAX_ID) {
        throw new UserError(`campaign id must be a positive whole number, got "${rawId}"`);
      }
      await withApp(async (app) => {
        const report = await campaignReport(app.store.db, id);
        if (!report) throw new UserError(`id: no campaign ${id}`);
        if (options.json) printJson(report);
        else process.stdout.write(`${reportLines(report).join('\n')}\n`);
      });
    });
}
