// What the CLI, the API and the worker do with feeds, in one place: add (store + scheduler),
// remove, poll now, and the poll dependencies (with the alert-rule hook).
import { alertForArticle } from '../alerts/create.ts';
import type { App } from '../app.ts';
import type { Queues } from '../delivery/queues.ts';
import { type PollDeps, type PollReport, pollFeed } from './poll.ts';
import {
  addFeed,
  type Feed,
  type FeedInput,
  FeedInputError,
  listFeeds,
  removeFeed,
} from './repository.ts';
import { scheduleFeed, unscheduleFeed } from './schedule.ts';

export function pollDeps(app: App, queues: Queues, now: () => Date = () => new Date()): PollDeps {
  const alertDeps = { db: app.store.db, config: app.config, queues, now, logger: app.logger };
  return {
    db: app.store.db,
    config: app.config,
    logger: app.logger,
    now,
    onNewArticle: async (article) => {
      await alertForArticle(alertDeps, article);
    },
  };
}

export async function addAndScheduleFeed(
  app: App,
  queues: Pick<Queues, 'feeds'>,
  input: FeedInput,
): Promise<Feed> {
  const feed = await addFeed(app.store.db, input, app.config.FEED_FAILING_AFTER);
  await scheduleFeed(queues.feeds, feed);
  app.logger.info({ feed_id: feed.id, every_s: feed.everySeconds }, 'feeds.added');
  return feed;
}

export async function removeAndUnscheduleFeed(
  app: App,
  queues: Pick<Queues, 'feeds'>,
  id: number,
): Promise<void> {
  if (!(await removeFeed(app.store.db, id))) {
    throw new FeedInputError('id', `no feed ${id}`, 404);
  }
  await unscheduleFeed(queues.feeds, id);
  app.logger.info({ feed_id: id }, 'feeds.removed');
}

/** Polls the named feeds (all when none), one after another. */
export async function pollNow(
  app: App,
  queues: Queues,
  ids?: readonly number[],
): Promise<PollReport[]> {
  const deps = pollDeps(app, queues);
  const targets = ids ?? (await listFeeds(app.store.db, 1)).map((feed) => feed.id);
  const reports: PollReport[] = [];
  for (const id of targets) reports.push(await pollFeed(deps, id));
  return reports;
}
