// The topic list behind GET /api/topics and the console's topics page: every catalogue topic
// with its followers (active subscribers), the date of its latest article and its three most
// recent articles. Topics sit below articles and subscribers in the layer order, so this reads
// their tables directly (store reads, no domain logic).
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { keepsCounts, keptFollowerCounts } from '../store/counts.ts';
import type { Database, SubscriberStatus } from '../store/schema.ts';

/** Every subscriber status but active (a record, so a new status cannot be forgotten here). */
const INACTIVE: Record<Exclude<SubscriberStatus, 'active'>, true> = {
  pending: true,
  unsubscribed: true,
  bounced: true,
  complained: true,
};
const INACTIVE_STATUSES = Object.keys(INACTIVE) as Array<keyof typeof INACTIVE>;

/** How many recent articles each topic shows. */
export const RECENT_ARTICLES_PER_TOPIC = 3;

/** One recent article of a topic. */
export interface TopicArticle {
  id: number;
  title: string;
  /** Published time, or the ingest time for an article without one. */
  at: string;
}

/** What the topic list shows of each topic. */
export interface TopicListItem {
  id: string;
  name: string;
  description: string;
  /** Active subscribers following the topic. */
  followers: number;
  /** Published (or ingest) time of its newest article; null when it has none. */
  lastArticleAt: string | null;
  /** Its newest articles, newest first (at most RECENT_ARTICLES_PER_TOPIC). */
  recentArticles: TopicArticle[];
}

/** The response item shape, for the OpenAPI document. */
export const topicListItemSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  followers: z.number().int(),
  lastArticleAt: z.string().nullable(),
  recentArticles: z.array(z.object({ id: z.number().int(), title: z.string(), at: z.string() })),
});

/**
 * Active followers per topic, counted now. Followers = every follow − follows of subscribers
 * not active: both sides read from indexes (all follows by topic; the few inactive subscribers
 * by status), where joining every follow to its subscriber would look up every row.
 */
async function countFollowersLive(db: Kysely<Database>): Promise<Map<string, number>> {
  const [follows, inactive] = await Promise.all([
    db
      .selectFrom('subscriptions')
      .select(['topic_id', (eb) => eb.fn.countAll().as('n')])
      .groupBy('topic_id')
      .execute(),
    db
      .selectFrom('subscribers')
      .innerJoin('subscriptions', 'subscriptions.subscriber_id', 'subscribers.id')
      .select(['subscriptions.topic_id', (eb) => eb.fn.countAll().as('n')])
      .where('subscribers.status', 'in', INACTIVE_STATUSES)
      .groupBy('subscriptions.topic_id')
      .execute(),
  ]);
  const followerCount = new Map(follows.map((row) => [row.topic_id, Number(row.n)]));
  for (const row of inactive) {
    followerCount.set(row.topic_id, (followerCount.get(row.topic_id) ?? 0) - Number(row.n));
  }
  return followerCount;
}

/**
 * Every topic of the catalogue in name order, with followers, last article date and recent
 * articles: followers as PostgreSQL keeps them (src/store/counts.ts) or counted live on SQLite,
 * then one small indexed query per topic (the catalogue holds tens of topics, not thousands).
 */
export async function listTopics(db: Kysely<Database>): Promise<{ items: TopicListItem[] }> {
  const topics = await db
    .selectFrom('topics')
    .select(['id', 'name', 'description'])
    .orderBy('name')
    .orderBy('id')
    .execute();
  const followerCount = keepsCounts(db)
    ? await keptFollowerCounts(db)
    : await countFollowersLive(db);
  const when = sql<string>`coalesce(articles.published_at, articles.created_at)`;
  const items: TopicListItem[] = [];
  for (const topic of topics) {
    const recent = await db
      .selectFrom('article_topics')
      .innerJoin('articles', 'articles.id', 'article_topics.article_id')
      .select(['articles.id', 'articles.title', when.as('at')])
      .where('article_topics.topic_id', '=', topic.id)
      .orderBy(when, 'desc')
      .orderBy('articles.id', 'desc')
      .limit(RECENT_ARTICLES_PER_TOPIC)
      .execute();
    items.push({
      id: topic.id,
      name: topic.name,
      description: topic.description,
      followers: followerCount.get(topic.id) ?? 0,
      lastArticleAt: recent[0]?.at ?? null,
      recentArticles: recent.map((row) => ({ id: row.id, title: row.title, at: row.at })),
    });
  }
  return { items };
}
