// Table shapes added by migration 0008 (feeds, alerts, frequency cap, welcome). Kept apart
// from schema.ts; `newsroomDb` widens a store handle to see them.
import type { Generated, Kysely, Transaction } from 'kysely';
import type { Database } from './schema.ts';

export interface FeedTable {
  id: Generated<number>;
  url: string;
  name: string;
  every_seconds: number;
  /** 1 when the feed may resolve to private or loopback addresses (an editor's explicit choice). */
  allow_private: number;
  etag: string | null;
  last_modified: string | null;
  last_polled_at: string | null;
  last_success_at: string | null;
  /** Consecutive failed polls (0 after a good one). */
  failures: Generated<number>;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export type FeedItemStatus = 'stored' | 'broken';

export interface FeedItemTable {
  feed_id: number;
  /** sha256 of the item's guid, else its link, else its title. */
  item_key: string;
  status: FeedItemStatus;
  article_id: number | null;
  /** Why a broken item was skipped. */
  detail: string | null;
  created_at: string;
}

export type AlertMode = 'approval' | 'hold';

export interface AlertRuleTable {
  id: Generated<number>;
  topic_id: string;
  min_strength: number;
  mode: AlertMode;
  hold_seconds: number;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface AlertCampaignTable {
  article_id: number;
  campaign_id: number;
  rule_id: number;
  mode: AlertMode;
  send_at: string | null;
  placed_at: string | null;
  created_at: string;
}

export interface AlertSendTable {
  subscriber_id: number;
  campaign_id: number;
  sent_at: string;
}

export interface AlertHeldTable {
  subscriber_id: number;
  campaign_id: number;
  /** JSON array of the alert's article ids. */
  article_ids: string;
  reason: 'cap' | 'quiet-hours';
  created_at: string;
}

export interface WelcomeMailTable {
  subscriber_id: number;
  campaign_id: number;
  created_at: string;
}

export interface NewsroomDatabase extends Database {
  feeds: FeedTable;
  feed_items: FeedItemTable;
  alert_rules: AlertRuleTable;
  alert_campaigns: AlertCampaignTable;
  alert_sends: AlertSendTable;
  alert_held: AlertHeldTable;
  welcome_mails: WelcomeMailTable;
}

/** The same store handle, typed to see the newsroom tables too. */
export function newsroomDb(db: Kysely<Database> | Transaction<Database>): Kysely<NewsroomDatabase> {
  return db as unknown as Kysely<NewsroomDatabase>;
}
