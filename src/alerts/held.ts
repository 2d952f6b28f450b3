// Alerts held back by the cap or quiet hours (`alert_held`), as the digest tick reads and
// clears them: a held row stays until a digest that carries its articles is committed, and the
// same transaction deletes it, so a held alert is neither lost (a crash before the commit
// leaves the row) nor given twice (after the commit the row is gone).
import type { Kysely } from 'kysely';
import { getArticle } from '../articles/repository.ts';
import type { StoredArticle } from '../articles/schema.ts';
import { campaignRecipientIds } from '../ledger/reports.ts';
import { chunk } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';

export interface HeldAlerts {
  /** The held alert campaigns (the rows to clear once delivered). */
  campaignIds: number[];
  /** Their articles that still exist, newest first. */
  articles: StoredArticle[];
}

/** The held alerts of each of the subscribers that has any (others are absent from the map). */
export async function heldAlertsFor(
  db: Kysely<Database>,
  subscriberIds: readonly number[],
  articleCache = new Map<number, Promise<StoredArticle | null>>(),
): Promise<Map<number, HeldAlerts>> {
  const held = new Map<number, HeldAlerts>();
  if (subscriberIds.length === 0) return held;
  const rows = await newsroomDb(db)
    .selectFrom('alert_held')
    .select(['subscriber_id', 'campaign_id', 'article_ids'])
    .where('subscriber_id', 'in', [...subscriberIds])
    .orderBy('campaign_id')
    .execute();
  const articleOf = (id: number) => {
    let found = articleCache.get(id);
    if (!found) {
      found = getArticle(db, id);
      articleCache.set(id, found);
    }
    return found;
  };
  for (const row of rows) {
    const entry = held.get(row.subscriber_id) ?? { campaignIds: [], articles: [] };
    entry.campaignIds.push(row.campaign_id);
    for (const id of JSON.parse(row.article_ids) as number[]) {
      const article = await articleOf(id);
      if (article && !entry.articles.some((a) => a.id === article.id)) entry.articles.push(article);
    }
    held.set(row.subscriber_id, entry);
  }
  for (const entry of held.values()) entry.articles.sort(newestFirst);
  return held;
}

/** Newest first by publishedAt, then by id (later stored first), as digests list them. */
export function newestFirst(a: StoredArticle, b: StoredArticle): number {
  return (b.publishedAt ?? '').localeCompare(a.publishedAt ?? '') || b.id - a.id;
}

/**
 * Inside the digest's transaction: deletes the given held rows of the subscribers that this
 * digest campaign took (those with a ledger row in it); a subscriber another tick took first
 * keeps their rows for the digest that did take them.
 */
export async function clearHeldAlerts(
  trx: Kysely<Database>,
  digestCampaignId: number,
  members: ReadonlyArray<{ subscriberId: number; heldCampaignIds: readonly number[] }>,
): Promise<void> {
  const withHeld = members.filter((m) => m.heldCampaignIds.length > 0);
  for (const part of chunk(withHeld, 200)) {
    await newsroomDb(trx)
      .deleteFrom('alert_held')
      .where((eb) =>
        eb.or(
          part.map((m) =>
            eb.and([
              eb('subscriber_id', '=', m.subscriberId),
              eb('campaign_id', 'in', [...m.heldCampaignIds]),
            ]),
          ),
        ),
      )
      .where('subscriber_id', 'in', campaignRecipientIds(trx, digestCampaignId))
      .execute();
  }
}
