// The alert frequency cap and quiet hours, checked at send time for each recipient of an
// alert campaign (one made by an alert rule): at most ALERT_DAILY_CAP alerts per subscriber in
// any rolling 24 hours, and none during their local ALERT_QUIET_HOURS. The count and the
// admission are one guarded SQL write (on PostgreSQL under a lock on the subscriber's row), so
// concurrent campaigns and worker processes cannot exceed the cap together. A held-back alert
// is recorded in `alert_held`; its article reaches the subscriber in their next digest (see
// src/alerts/README.md). Digests, confirmations and editors' own campaigns are not capped.
import { type Kysely, sql } from 'kysely';
import { DateTime } from 'luxon';
import type { Campaign } from '../campaigns/model.ts';
import type { Config } from '../config/index.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';

export type HoldReason = 'cap' | 'quiet-hours';

/**
 * Whether a campaign was made by an alert rule never changes: remember the answer, per store
 * handle (campaign ids are only unique within one store; tests open several in one process).
 */
const alertCampaignsByStore = new WeakMap<Kysely<Database>, Map<number, boolean>>();

async function isAlertCampaign(db: Kysely<Database>, campaignId: number): Promise<boolean> {
  let alertCampaigns = alertCampaignsByStore.get(db);
  if (!alertCampaigns) {
    alertCampaigns = new Map();
    alertCampaignsByStore.set(db, alertCampaigns);
  }
  const known = alertCampaigns.get(campaignId);
  if (known !== undefined) return known;
  const row = await newsroomDb(db)
    .selectFrom('alert_campaigns')
    .select('campaign_id')
    .where('campaign_id', '=', campaignId)
    .executeTakeFirst();
  alertCampaigns.set(campaignId, row !== undefined);
  if (alertCampaigns.size > 10_000) alertCampaigns.clear();
  return row !== undefined;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** True when `now` falls in the quiet hours of the zone (unknown zones count as UTC). */
export function inQuietHours(quietHours: string, timezone: string, now: Date): boolean {
  if (quietHours === 'off') return false;
  const [from, to] = quietHours.split('-').map(minutesOf) as [number, number];
  let local = DateTime.fromJSDate(now, { zone: timezone });
  if (!local.isValid) local = DateTime.fromJSDate(now, { zone: 'UTC' });
  const minute = local.hour * 60 + local.minute;
  // 22:00-07:00 wraps past midnight; 13:00-14:00 does not.
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}

/**
 * Admits one alert for the subscriber if fewer than `cap` were admitted in the 24 hours
 * before `now`; true also when this campaign was already admitted for them (a retry).
 */
export async function admitAlert(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  subscriberId: number,
  campaignId: number,
  cap: number,
  now: Date,
): Promise<boolean> {
  const since = new Date(now.getTime() - 24 * 3_600_000).toISOString();
  const admit = async (tx: Kysely<Database>) => {
    const inserted = await sql`
      insert into alert_sends (subscriber_id, campaign_id, sent_at)
      select ${subscriberId}, ${campaignId}, ${now.toISOString()}
      where (select count(*) from alert_sends
             where subscriber_id = ${subscriberId} and sent_at > ${since}) < ${cap}
      on conflict (subscriber_id, campaign_id) do nothing`.execute(tx);
    if (Number(inserted.numAffectedRows ?? 0n) > 0) return true;
    const already = await newsroomDb(tx)
      .selectFrom('alert_sends')
      .select('campaign_id')
      .where('subscriber_id', '=', subscriberId)
      .where('campaign_id', '=', campaignId)
      .executeTakeFirst();
    return already !== undefined;
  };
  // SQLite runs one writer at a time and this one statement counts and inserts together.
  if (dialect === 'sqlite') return admit(db);
  // PostgreSQL: two transactions could both count below the cap; the row lock orders them.
  return db.transaction().execute(async (trx) => {
    await sql`select id from subscribers where id = ${subscriberId} for update`.execute(trx);
    return admit(trx);
  });
}

/**
 * The one call the delivery path makes before sending a campaign to a recipient: null to
 * send, or why this alert is held back for them (then recorded for their digest).
 */
export async function alertHoldBack(
  deps: {
    db: Kysely<Database>;
    config: Pick<Config, 'ALERT_DAILY_CAP' | 'ALERT_QUIET_HOURS' | 'database'>;
  },
  campaign: Pick<Campaign, 'id' | 'kind' | 'articleIds'>,
  subscriberId: number,
  now: Date,
): Promise<HoldReason | null> {
  if (campaign.kind !== 'campaign' || !(await isAlertCampaign(deps.db, campaign.id))) return null;
  const subscriber = await deps.db
    .selectFrom('subscribers')
    .select('timezone')
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  let reason: HoldReason | null = null;
  if (subscriber && inQuietHours(deps.config.ALERT_QUIET_HOURS, subscriber.timezone, now)) {
    reason = 'quiet-hours';
  } else if (
    !(await admitAlert(
      deps.db,
      deps.config.database.dialect,
      subscriberId,
      campaign.id,
      deps.config.ALERT_DAILY_CAP,
      now,
    ))
  ) {
    reason = 'cap';
  }
  if (reason) {
    await newsroomDb(deps.db)
      .insertInto('alert_held')
      .values({
        subscriber_id: subscriberId,
        campaign_id: campaign.id,
        article_ids: JSON.stringify(campaign.articleIds),
        reason,
        created_at: now.toISOString(),
      })
      .onConflict((oc) => oc.columns(['subscriber_id', 'campaign_id']).doNothing())
      .execute();
  }
  return reason;
}
