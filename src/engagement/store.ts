// Engagement rows in the store: batched upserts from the recorder, a subscriber's rows for
// export and erase, and retention (per-subscriber rows folded into per-campaign totals).
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import {
  type EngagementDatabase,
  type EngagementKind,
  engagementDb,
} from '../store/schema-engagement.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** One subscriber's activity of one kind on one campaign, as the recorder aggregated it. */
export interface EngagementCount {
  campaignId: number;
  subscriberId: number;
  kind: EngagementKind;
  firstAt: string;
  lastAt: string;
  count: number;
}

/** One subscriber's clicks on one tracked link. */
export interface LinkClickCount {
  campaignId: number;
  linkIndex: number;
  subscriberId: number;
  firstAt: string;
  lastAt: string;
  count: number;
}

export interface HourlyCount {
  campaignId: number;
  kind: EngagementKind;
  hour: string;
  events: number;
}

/** Rows per statement: well under both dialects' bound-parameter limits. */
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < items.length; at += CHUNK) out.push(items.slice(at, at + CHUNK));
  return out;
}

// Merge rules for an upsert: counts add, first is the earlier, last the later (ISO text sorts).
const laterLast = (table: string) =>
  sql<string>`case when excluded.last_at > ${sql.ref(`${table}.last_at`)} then excluded.last_at else ${sql.ref(`${table}.last_at`)} end`;
const earlierFirst = (table: string) =>
  sql<string>`case when excluded.first_at < ${sql.ref(`${table}.first_at`)} then excluded.first_at else ${sql.ref(`${table}.first_at`)} end`;

/** Adds aggregated counts to the store in one transaction (idempotent only per batch). */
export async function writeEngagement(
  db: Kysely<Database>,
  batch: { counts: EngagementCount[]; linkClicks: LinkClickCount[]; hourly: HourlyCount[] },
): Promise<void> {
  await engagementDb(db)
    .transaction()
    .execute(async (trx) => {
      for (const rows of chunks(batch.counts)) {
        await trx
          .insertInto('engagement')
          .values(
            rows.map((r) => ({
              campaign_id: r.campaignId,
              subscriber_id: r.subscriberId,
              kind: r.kind,
              first_at: r.firstAt,
              last_at: r.lastAt,
              count: r.count,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['campaign_id', 'subscriber_id', 'kind']).doUpdateSet({
              count: sql`engagement.count + excluded.count`,
              first_at: earlierFirst('engagement'),
              last_at: laterLast('engagement'),
            }),
          )
          .execute();
      }
      for (const rows of chunks(batch.linkClicks)) {
        await trx
          .insertInto('engagement_link_clicks')
          .values(
            rows.map((r) => ({
              campaign_id: r.campaignId,
              link_index: r.linkIndex,
              subscriber_id: r.subscriberId,
              first_at: r.firstAt,
              last_at: r.lastAt,
              count: r.count,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['campaign_id', 'link_index', 'subscriber_id']).doUpdateSet({
              count: sql`engagement_link_clicks.count + excluded.count`,
              first_at: earlierFirst('engagement_link_clicks'),
              last_at: laterLast('engagement_link_clicks'),
            }),
          )
          .execute();
      }
      for (const rows of chunks(batch.hourly)) {
        await trx
          .insertInto('engagement_hourly')
          .values(
            rows.map((r) => ({
              campaign_id: r.campaignId,
              kind: r.kind,
              hour: r.hour,
              events: r.events,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['campaign_id', 'kind', 'hour']).doUpdateSet({
              events: sql`engagement_hourly.events + excluded.events`,
            }),
          )
          .execute();
      }
    });
}

/** Token keys of the given subscribers (absent: erased or never existed). */
export async function tokenKeysOf(
  db: Kysely<Database>,
  subscriberIds: readonly number[],
): Promise<Map<number, string>> {
  const keys = new Map<number, string>();
  for (const ids of chunks(subscriberIds)) {
    const rows = await db
      .selectFrom('subscribers')
      .select(['id', 'token_key'])
      .where('id', 'in', ids)
      .execute();
    for (const row of rows) keys.set(row.id, row.token_key);
  }
  return keys;
}

/** A campaign's tracked link URL by index, or null (no such link: the redirect answers 404). */
export async function trackedLinkUrl(
  db: Kysely<Database>,
  campaignId: number,
  linkIndex: number,
): Promise<string | null> {
  const row = await engagementDb(db)
    .selectFrom('engagement_links')
    .select('url')
    .where('campaign_id', '=', campaignId)
    .where('link_index', '=', linkIndex)
    .executeTakeFirst();
  return row?.url ?? null;
}

/** What Herald holds about one subscriber's engagement (the GDPR export's part). */
export async function subscriberEngagement(db: Db, subscriberId: number) {
  const edb = engagementDb(db as Kysely<Database>);
  const [activity, linkClicks] = await Promise.all([
    edb
      .selectFrom('engagement')
      .select(['campaign_id', 'kind', 'first_at', 'last_at', 'count'])
      .where('subscriber_id', '=', subscriberId)
      .orderBy('campaign_id')
      .orderBy('kind')
      .execute(),
    edb
      .selectFrom('engagement_link_clicks as c')
      .leftJoin('engagement_links as l', (join) =>
        join
          .onRef('l.campaign_id', '=', 'c.campaign_id')
          .onRef('l.link_index', '=', 'c.link_index'),
      )
      .select(['c.campaign_id', 'c.link_index', 'l.url', 'c.first_at', 'c.last_at', 'c.count'])
      .where('c.subscriber_id', '=', subscriberId)
      .orderBy('c.campaign_id')
      .orderBy('c.link_index')
      .execute(),
  ]);
  const consent = await edb
    .selectFrom('subscribers')
    .select(['open_tracking_consent', 'open_tracking_consent_at'])
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  return {
    openTrackingConsent: consent ? Number(consent.open_tracking_consent) === 1 : false,
    openTrackingConsentAt: consent?.open_tracking_consent_at ?? null,
    activity: activity.map((r) => ({ ...r, count: Number(r.count) })),
    linkClicks: linkClicks.map((r) => ({ ...r, count: Number(r.count) })),
  };
}

/** Deletes a subscriber's engagement rows (erasure); campaign totals and hourly counts stay. */
export async function eraseEngagement(db: Db, subscriberId: number): Promise<void> {
  const edb = db as unknown as Kysely<EngagementDatabase>;
  await edb.deleteFrom('engagement').where('subscriber_id', '=', subscriberId).execute();
  await edb
    .deleteFrom('engagement_link_clicks')
    .where('subscriber_id', '=', subscriberId)
    .execute();
}

/** Whether a subscriber consented to open tracking. */
export async function openTrackingConsent(
  db: Kysely<Database>,
  subscriberId: number,
): Promise<boolean> {
  const row = await engagementDb(db)
    .selectFrom('subscribers')
    .select('open_tracking_consent')
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  return Number(row?.open_tracking_consent ?? 0) === 1;
}

/** Which of the given subscribers consented to open tracking (one query per 500). */
export async function openTrackingConsents(
  db: Kysely<Database>,
  subscriberIds: readonly number[],
): Promise<Set<number>> {
  const consenting = new Set<number>();
  for (const ids of chunks(subscriberIds)) {
    const rows = await engagementDb(db)
      .selectFrom('subscribers')
      .select('id')
      .where('id', 'in', ids)
      .where('open_tracking_consent', '=', 1)
      .execute();
    for (const row of rows) consenting.add(row.id);
  }
  return consenting;
}

/** Records a subscriber's open-tracking choice (and when they consented). */
export async function setOpenTrackingConsent(
  db: Kysely<Database>,
  subscriberId: number,
  consent: boolean,
  now: string = new Date().toISOString(),
): Promise<void> {
  const edb = engagementDb(db);
  const current = await openTrackingConsent(db, subscriberId);
  if (current === consent) return;
  await edb
    .updateTable('subscribers')
    .set({
      open_tracking_consent: consent ? 1 : 0,
      open_tracking_consent_at: consent ? now : null,
    })
    .where('id', '=', subscriberId)
    .execute();
}

export interface RetentionResult {
  /** Per-subscriber rows folded into totals and deleted. */
  engagementRows: number;
  linkClickRows: number;
}

/**
 * Folds per-subscriber rows last touched before `now - days` into per-campaign totals
 * (subscribers and events per campaign, kind and link) and deletes them, in one transaction.
 */
export async function applyRetention(
  db: Kysely<Database>,
  days: number,
  now: Date = new Date(),
): Promise<RetentionResult> {
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  return engagementDb(db)
    .transaction()
    .execute(async (trx) => {
      const old = await trx
        .selectFrom('engagement')
        .select(['campaign_id', 'kind'])
        .select((eb) => [
          eb.fn.countAll<number>().as('subscribers'),
          eb.fn.sum<number>('count').as('events'),
        ])
        .where('last_at', '<', cutoff)
        .groupBy(['campaign_id', 'kind'])
        .execute();
      const oldLinks = await trx
        .selectFrom('engagement_link_clicks')
        .select(['campaign_id', 'link_index'])
        .select((eb) => [
          eb.fn.countAll<number>().as('subscribers'),
          eb.fn.sum<number>('count').as('events'),
        ])
        .where('last_at', '<', cutoff)
        .groupBy(['campaign_id', 'link_index'])
        .execute();
      const totals = [
        ...old.map((r) => ({
          campaign_id: r.campaign_id,
          kind: r.kind,
          link_index: -1,
          subscribers: Number(r.subscribers),
          events: Number(r.events),
        })),
        ...oldLinks.map((r) => ({
          campaign_id: r.campaign_id,
          kind: 'click' as const,
          link_index: r.link_index,
          subscribers: Number(r.subscribers),
          events: Number(r.events),
        })),
      ];
      for (const rows of chunks(totals)) {
        await trx
          .insertInto('engagement_totals')
          .values(rows)
          .onConflict((oc) =>
            oc.columns(['campaign_id', 'kind', 'link_index']).doUpdateSet({
              subscribers: sql`engagement_totals.subscribers + excluded.subscribers`,
              events: sql`engagement_totals.events + excluded.events`,
            }),
          )
          .execute();
      }
      const gone = await trx
        .deleteFrom('engagement')
        .where('last_at', '<', cutoff)
        .executeTakeFirst();
      const goneLinks = await trx
        .deleteFrom('engagement_link_clicks')
        .where('last_at', '<', cutoff)
        .executeTakeFirst();
      return {
        engagementRows: Number(gone.numDeletedRows),
        linkClickRows: Number(goneLinks.numDeletedRows),
      };
    });
}
