// Per-topic trends by ISO week (Monday 00:00 UTC): followers gained (follows made that week and
// still held) and lost (topic unfollows through the preference centre or a topic link), and the
// engagement of the campaigns sent to the topic that week.
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../store/schema.ts';
import { campaignReport } from './report.ts';

export const topicTrendSchema = z.object({
  topicId: z.string(),
  weeks: z.array(
    z.object({
      /** Monday of the week, YYYY-MM-DD (UTC). */
      week: z.string(),
      gained: z.number().int(),
      lost: z.number().int(),
      campaigns: z.number().int(),
      delivered: z.number().int(),
      uniqueClicks: z.number().int(),
      humanOpens: z.number().int(),
    }),
  ),
});

export type TopicTrend = z.infer<typeof topicTrendSchema>;

const DAY_MS = 86_400_000;

/** Monday 00:00 UTC of the week holding `date`. */
export function weekStart(date: Date): Date {
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return new Date(day - weekday * DAY_MS);
}

/** The topic's last `weeks` weeks up to `now`, oldest first. */
export async function topicTrends(
  db: Kysely<Database>,
  topicId: string,
  options: { weeks?: number; now?: Date } = {},
): Promise<TopicTrend> {
  const weeks = options.weeks ?? 8;
  const lastMonday = weekStart(options.now ?? new Date());
  const first = new Date(lastMonday.getTime() - (weeks - 1) * 7 * DAY_MS);
  const buckets = Array.from({ length: weeks }, (_, i) => {
    const start = new Date(first.getTime() + i * 7 * DAY_MS);
    return {
      week: start.toISOString().slice(0, 10),
      from: start.toISOString(),
      to: new Date(start.getTime() + 7 * DAY_MS).toISOString(),
      gained: 0,
      lost: 0,
      campaigns: 0,
      delivered: 0,
      uniqueClicks: 0,
      humanOpens: 0,
    };
  });
  const bucketOf = (iso: string) => buckets.find((b) => iso >= b.from && iso < b.to);
  const since = first.toISOString();

  const follows = await db
    .selectFrom('subscriptions')
    .select('created_at')
    .where('topic_id', '=', topicId)
    .where('created_at', '>=', since)
    .execute();
  for (const row of follows) {
    const bucket = bucketOf(row.created_at);
    if (bucket) bucket.gained += 1;
  }
  // recordEvent writes the detail as JSON.stringify({topic}): match that text exactly.
  const unfollows = await db
    .selectFrom('events')
    .select('created_at')
    .where('type', '=', 'unsubscribe.topic')
    .where('detail', '=', JSON.stringify({ topic: topicId }))
    .where('created_at', '>=', since)
    .execute();
  for (const row of unfollows) {
    const bucket = bucketOf(row.created_at);
    if (bucket) bucket.lost += 1;
  }
  const campaigns = await db
    .selectFrom('campaigns')
    .select(['id', 'started_at'])
    .where('started_at', '>=', since)
    .where('kind', 'in', ['campaign', 'digest'])
    .where('audience_topics', 'like', sql<string>`${`%${JSON.stringify(topicId)}%`}`)
    .execute();
  for (const campaign of campaigns) {
    const bucket = campaign.started_at ? bucketOf(campaign.started_at) : undefined;
    if (!bucket) continue;
    const report = await campaignReport(db, campaign.id);
    if (!report) continue;
    bucket.campaigns += 1;
    bucket.delivered += report.delivered;
    bucket.uniqueClicks += report.clicks.unique;
    bucket.humanOpens += report.opens.human.unique;
  }
  return {
    topicId,
    weeks: buckets.map(({ from: _from, to: _to, ...rest }) => rest),
  };
}
