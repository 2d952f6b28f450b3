// `herald feeds add|list|remove|poll`: RSS, Atom and JSON Feed sources polled into articles.
import type { Command } from 'commander';
import { z } from 'zod';
import { requireRedis } from '../../app.ts';
import { openQueues } from '../../delivery/queues.ts';
import { type Feed, listFeeds } from '../../feeds/repository.ts';
import { addAndScheduleFeed, pollNow, removeAndUnscheduleFeed } from '../../feeds/service.ts';
import { printJson, UserError, withApp } from '../context.ts';

const idArgument = z.coerce.number().int().positive();

function parseId(raw: string): number {
  const id = idArgument.safeParse(raw);
  if (!id.success) throw new UserError('feed id must be a positive whole number');
  return id.data;
}

function describe(feed: Feed): string {
  const state = feed.failing
    ? `FAILING (${feed.failures} polls): ${feed.lastError ?? ''}`
    : feed.failures > 0
      ? `last poll failed (${feed.failures}): ${feed.lastError ?? ''}`
      : feed.lastSuccessAt
        ? `ok, last polled ${feed.lastSuccessAt}`
        : 'not polled yet';
  const privacy = feed.allowPrivate ? ' [private allowed]' : '';
  return `feed ${feed.id}: ${feed.name} <${feed.url}> every ${feed.everySeconds}s${privacy}\n    ${state}\n`;
}

export function register(program: Command): void {
  const feeds = program.command('feeds').description('RSS, Atom and JSON Feed sources');
  feeds
    .command('add <url>')
    .description('add a feed, polled on its interval by the feeds worker')
    .option('--name <name>', 'a display name (default: the host)')
    .option('--every <interval>', 'poll interval such as 90s, 5m, 1h', '5m')
    .option('--allow-private', 'allow private and loopback addresses (e.g. an intranet CMS)')
    .option('--json', 'print JSON')
    .action(
      async (
        url: string,
        options: { name?: string; every: string; allowPrivate?: boolean; json?: boolean },
      ) => {
        await withApp(async (app) => {
          await requireRedis(app);
          const feed = await addAndScheduleFeed(app, openQueues(app), {
            url,
            every: options.every,
            allowPrivate: options.allowPrivate === true,
            ...(options.name !== undefined ? { name: options.name } : {}),
          });
          if (options.json) printJson(feed);
          else process.stdout.write(`added ${describe(feed)}`);
        });
      },
    );
  feeds
    .command('list')
    .description('feeds with their poll state (failing feeds are marked)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withApp(async (app) => {
        const list = await listFeeds(app.store.db, app.config.FEED_FAILING_AFTER);
        if (options.json) printJson(list);
        else if (list.length === 0) process.stdout.write('no feeds\n');
        else for (const feed of list) process.stdout.write(describe(feed));
      });
    });
  feeds
    .command('remove <id>')
    .description('remove a feed (its articles stay)')
    .option('--json', 'print JSON')
    .action(async (rawId: string, options: { json?: boolean }) => {
      const id = parseId(rawId);
      await withApp(async (app) => {
        await requireRedis(app);
        await removeAndUnscheduleFeed(app, openQueues(app), id);
        if (options.json) printJson({ id, removed: true });
        else process.stdout.write(`removed feed ${id}\n`);
      });
    });
  feeds
    .command('poll [id...]')
    .description('poll feeds now (all when none named) and report what each gave')
    .option('--json', 'print JSON')
    .action(async (rawIds: string[], options: { json?: boolean }) => {
      const ids = rawIds.length > 0 ? rawIds.map(parseId) : undefined;
      await withApp(async (app) => {
        const reports = await pollNow(app, openQueues(app), ids);
        if (options.json) printJson(reports);
        else {
          for (const r of reports) {
            process.stdout.write(
              `feed ${r.feedId}: ${r.outcome}${r.error ? ` (${r.error})` : ''}, ${r.created.length} new article(s), ${r.known} known, ${r.broken.length} broken\n`,
            );
            for (const b of r.broken)
              process.stdout.write(`    broken item "${b.item}": ${b.reason}\n`);
          }
        }
        const missing = reports.find((r) => r.outcome === 'missing');
        if (missing) throw new UserError(`no feed ${missing.feedId}`);
      });
    });
}
