// `herald queues [--json]` and `herald queues pause|resume|drain|retry NAME`: ops on the queues.
import type { Command } from 'commander';
import { z } from 'zod';
import { requireRedis } from '../../app.ts';
import { ALL_QUEUES, type QueueName, type Queues } from '../../delivery/queues.ts';
import {
  allQueueStats,
  drainQueue,
  isQueueName,
  pauseQueue,
  type QueueStats,
  resumeQueue,
  retryFailed,
} from '../../ops/queues.ts';
import { printJson, UserError, withApp } from '../context.ts';

const COLUMNS = ['waiting', 'active', 'delayed', 'completed', 'failed', 'paused'] as const;

/** Whether --json was given, before or after the subcommand (the parent takes it too). */
function wantsJson(command: Command): boolean {
  return command.optsWithGlobals<{ json?: boolean }>().json === true;
}

function queueNameOf(name: string): QueueName {
  if (!isQueueName(name)) {
    throw new UserError(`unknown queue "${name}"; queues are ${ALL_QUEUES.join(', ')}`);
  }
  return name;
}

function printTable(stats: QueueStats[]): void {
  const header = ['queue', ...COLUMNS];
  const rows = stats.map((s) => [
    s.isPaused ? `${s.name} (paused)` : s.name,
    ...COLUMNS.map((c) => String(s[c])),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}\n`);
  }
}

/** Opens the app and the queues (failing clearly when Redis is away), then runs `fn`. */
function withQueues<T>(fn: (queues: Queues) => Promise<T>): Promise<T> {
  return withApp(async (app) => {
    await requireRedis(app);
    return fn(await app.queues());
  });
}

const campaignOption = z.coerce
  .number({ message: '--campaign must be a campaign id' })
  .int('--campaign must be a whole number')
  .positive('--campaign must be above 0')
  .optional();

export function register(program: Command): void {
  const queues = program
    .command('queues')
    .description('per queue: waiting, active, delayed, completed, failed, paused')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const stats = await withQueues((q) => allQueueStats(q));
      if (options.json) printJson({ queues: stats });
      else printTable(stats);
    });

  queues
    .command('pause <name>')
    .description('pause a queue for every worker (jobs wait until resumed)')
    .option('--json', 'print JSON')
    .action(async (name: string, _options: { json?: boolean }, command: Command) => {
      const queue = queueNameOf(name);
      const stats = await withQueues((q) => pauseQueue(queue, q[queue]));
      if (wantsJson(command)) printJson(stats);
      else process.stdout.write(`paused ${queue} (${stats.paused} job(s) held)\n`);
    });

  queues
    .command('resume <name>')
    .description('resume a paused queue')
    .option('--json', 'print JSON')
    .action(async (name: string, _options: { json?: boolean }, command: Command) => {
      const queue = queueNameOf(name);
      const stats = await withQueues((q) => resumeQueue(queue, q[queue]));
      if (wantsJson(command)) printJson(stats);
      else process.stdout.write(`resumed ${queue} (${stats.waiting} job(s) waiting)\n`);
    });

  queues
    .command('drain <name>')
    .description('remove the jobs waiting in a queue (the ledger keeps the unsent rows)')
    .option('--delayed', 'also remove delayed jobs')
    .option('--json', 'print JSON')
    .action(
      async (name: string, options: { json?: boolean; delayed?: boolean }, command: Command) => {
        const queue = queueNameOf(name);
        const result = await withQueues((q) =>
          drainQueue(q[queue], { delayed: options.delayed ?? false }),
        );
        if (wantsJson(command)) printJson({ name: queue, ...result });
        else process.stdout.write(`drained ${queue}: removed ${result.removed} job(s)\n`);
      },
    );

  queues
    .command('retry <name>')
    .description('move failed jobs of a queue (or of one campaign) back to waiting')
    .option('--campaign <id>', 'only the jobs of this campaign')
    .option('--json', 'print JSON')
    .action(
      async (name: string, options: { json?: boolean; campaign?: string }, command: Command) => {
        const queue = queueNameOf(name);
        const parsed = campaignOption.safeParse(options.campaign);
        if (!parsed.success) throw new UserError(parsed.error.issues[0]!.message);
        const result = await withQueues((q) =>
          retryFailed(q[queue], parsed.data === undefined ? {} : { campaignId: parsed.data }),
        );
        if (wantsJson(command))
          printJson({ name: queue, campaignId: parsed.data ?? null, ...result });
        else process.stdout.write(`retried ${result.retried} failed job(s) of ${queue}\n`);
      },
    );
}
