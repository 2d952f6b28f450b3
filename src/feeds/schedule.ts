// Each feed's BullMQ job scheduler on the `feeds` queue (id `feed-<id>`, every its interval).
// The store is the truth: the feeds worker re-creates missing schedulers and drops those of
// removed feeds at start and every minute, so a Redis that lost its data catches up.
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';

export const feedJobSchema = z.object({ feedId: z.number().int().positive() });

export const feedSchedulerId = (feedId: number) => `feed-${feedId}`;

export async function scheduleFeed(
  queue: Queue,
  feed: { id: number; everySeconds: number },
): Promise<void> {
  await queue.upsertJobScheduler(
    feedSchedulerId(feed.id),
    { every: feed.everySeconds * 1000 },
    {
      name: 'poll',
      data: { feedId: feed.id },
      opts: { removeOnComplete: true, removeOnFail: 100 },
    },
  );
}

export async function unscheduleFeed(queue: Queue, feedId: number): Promise<void> {
  await queue.removeJobScheduler(feedSchedulerId(feedId));
}

/** Makes the schedulers match the feeds in the store. */
export async function syncFeedSchedulers(db: Kysely<Database>, queue: Queue): Promise<void> {
  const feeds = await newsroomDb(db).selectFrom('feeds').select(['id', 'every_seconds']).execute();
  const wanted = new Set(feeds.map((feed) => feedSchedulerId(feed.id)));
  for (const feed of feeds)
    await scheduleFeed(queue, { id: feed.id, everySeconds: feed.every_seconds });
  for (const scheduler of await queue.getJobSchedulers(0, -1)) {
    const id = scheduler.key;
    if (id.startsWith('feed-') && !wanted.has(id)) await queue.removeJobScheduler(id);
  }
}
