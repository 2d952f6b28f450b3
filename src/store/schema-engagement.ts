// Table shapes added by migration 0009 (engagement). Kept apart from schema.ts;
// `engagementDb` widens a store handle to see them.
import type { ColumnType, Kysely, Transaction } from 'kysely';
import type { CampaignTable, Database, SubscriberTable } from './schema.ts';

/** click; open (a reader); machine-open (a proxy or a prefetch right after delivery). */
export type EngagementKind = 'click' | 'open' | 'machine-open';
export const engagementKinds: readonly EngagementKind[] = ['click', 'open', 'machine-open'];

export interface EngagementLinkTable {
  campaign_id: number;
  link_index: number;
  url: string;
}

/** One row per subscriber × campaign × kind. */
export interface EngagementTable {
  campaign_id: number;
  subscriber_id: number;
  kind: EngagementKind;
  first_at: string;
  last_at: string;
  count: number;
}

/** One row per subscriber × tracked link (unique clicks per link). */
export interface EngagementLinkClickTable {
  campaign_id: number;
  link_index: number;
  subscriber_id: number;
  first_at: string;
  last_at: string;
  count: number;
}

/** Per-subscriber rows folded away by retention; link_index -1: the whole campaign. */
export interface EngagementTotalTable {
  campaign_id: number;
  kind: EngagementKind;
  link_index: number;
  subscribers: number;
  events: number;
}

export interface EngagementHourlyTable {
  campaign_id: number;
  kind: EngagementKind;
  /** YYYY-MM-DDTHH (UTC). */
  hour: string;
  events: number;
}

export interface EngagementDatabase extends Omit<Database, 'campaigns' | 'subscribers'> {
  campaigns: CampaignTable & {
    /** null: follow TRACK_CLICKS; 0 off; 1 on. */
    track_clicks: ColumnType<number | null, number | null | undefined, number | null>;
  };
  subscribers: SubscriberTable & {
    open_tracking_consent: ColumnType<number, number | undefined, number>;
    open_tracking_consent_at: ColumnType<string | null, string | null | undefined, string | null>;
  };
  engagement_links: EngagementLinkTable;
  engagement: EngagementTable;
  engagement_link_clicks: EngagementLinkClickTable;
  engagement_totals: EngagementTotalTable;
  engagement_hourly: EngagementHourlyTable;
}

/** The same store handle, typed to see the engagement tables and columns too. */
export function engagementDb(
  db: Kysely<Database> | Transaction<Database>,
): Kysely<EngagementDatabase> {
  return db as unknown as Kysely<EngagementDatabase>;
}
