// Table shapes of the SQL store, shared by SQLite and PostgreSQL. Timestamps are ISO-8601 UTC
// strings (they sort as text on both dialects); booleans are 0/1; lists are JSON text.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** A counter column: PostgreSQL hands back COUNT/SUM as strings, SQLite as numbers. */
type Id = Generated<number>;

export interface TopicTable {
  id: string;
  name: string;
  description: string;
  /** The matching rules as JSON (see src/topics). */
  rules: string;
  created_at: string;
  updated_at: string;
}

export interface ArticleTable {
  id: Id;
  url: string | null;
  content_hash: string;
  title: string;
  standfirst: string | null;
  /** JSON array of paragraph strings. */
  paragraphs: string;
  /** JSON object {alt?, caption?, credit?, url?} or null. */
  image: string | null;
  /** JSON array of article blocks (src/articles/schema.ts), or null: read as paragraphs. */
  blocks: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON array of the source's tags (topic hints), or null. */
  tags: ColumnType<string | null, string | null | undefined, string | null>;
  source: string | null;
  byline: string | null;
  published_at: string | null;
  /** 1 when an editor set the topics by hand; re-ingest keeps them. */
  topics_overridden: ColumnType<number, number | undefined, number>;
  created_at: string;
  updated_at: string;
}

export interface ArticleTopicTable {
  article_id: number;
  topic_id: string;
  score: number;
}

export type SubscriberStatus = 'pending' | 'active' | 'unsubscribed' | 'bounced' | 'complained';
export type DigestFrequency = 'off' | 'daily' | 'weekly';

export interface SubscriberTable {
  id: Id;
  /** The address in its normal form (fully lower-cased): the subscriber's identity, unique. */
  email: string;
  /** The address as the subscriber typed it, for display; null: same as `email`. */
  email_display: ColumnType<string | null, string | null | undefined, string | null>;
  name: string | null;
  status: SubscriberStatus;
  digest: ColumnType<DigestFrequency, DigestFrequency | undefined, DigestFrequency>;
  /** Local hour (0-23) at which digests go out. */
  send_hour: ColumnType<number, number | undefined, number>;
  /** ISO weekday (1 = Monday … 7 = Sunday) for weekly digests. */
  digest_weekday: ColumnType<number, number | undefined, number>;
  timezone: ColumnType<string, string | undefined, string>;
  last_digest_at: string | null;
  /** Random key link tokens carry (16 hex digits); the store fills it on insert. */
  token_key: ColumnType<string, never, never>;
  created_at: string;
  confirmed_at: string | null;
  updated_at: string;
}

export interface SubscriptionTable {
  subscriber_id: number;
  topic_id: string;
  created_at: string;
}

export type SuppressionReason = 'hard-bounce' | 'complaint' | 'unsubscribe' | 'manual' | 'erased';

export interface SuppressionTable {
  id: Id;
  /** sha256 of the normalised address: survives erasure of the address itself. */
  email_hash: string;
  email: string | null;
  reason: SuppressionReason;
  note: string | null;
  created_at: string;
}

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
export type CampaignKind = 'campaign' | 'digest' | 'confirmation' | 'welcome';

export interface CampaignTable {
  id: Id;
  kind: ColumnType<CampaignKind, CampaignKind | undefined, CampaignKind>;
  subject: string;
  template: string;
  /** JSON array of article ids. */
  article_ids: string;
  /** JSON array of topic ids. */
  audience_topics: string;
  status: CampaignStatus;
  /** Why the status is what it is (e.g. the auto-pause reason). */
  status_reason: string | null;
  scheduled_at: string | null;
  /** HH:MM when scheduled at a local wall-clock time in each subscriber's zone. */
  local_time: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** When the whole audience had been written to the ledger. */
  prepared_at: string | null;
  /** Send only the first N paragraphs of each article (null: the whole article). */
  excerpt_paragraphs: number | null;
  /** 1: the sent campaign has a public web version in the archive (src/archive); 0: kept out. */
  archived: ColumnType<number, number | undefined, number>;
  /** The inbox preview line (migration 0013); null: the first article's standfirst or lead. */
  preheader: ColumnType<string | null, string | null | undefined, string | null>;
}

/** `sending`: claimed by a delivery job and handed to SMTP; counted as pending in status. */
export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'bounced' | 'suppressed';
/** Every ledger state, in the order a row moves through them. */
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  'pending',
  'sending',
  'sent',
  'failed',
  'bounced',
  'suppressed',
];

/** The delivery ledger: one row per campaign × recipient. */
export interface DeliveryTable {
  campaign_id: number;
  subscriber_id: number;
  status: DeliveryStatus;
  attempts: ColumnType<number, number | undefined, number>;
  /** The last SMTP reply (or error) for this recipient. */
  last_reply: string | null;
  /** Earliest instant this row may be sent (local-time schedules); null: at once. */
  due_at: string | null;
  sent_at: string | null;
  updated_at: string;
  /** The batch job this row belongs to (`b-<campaign>-<batch_no>`). */
  batch_no: ColumnType<number, number | undefined, number>;
  /** Id of the job attempt that claimed the row for sending, while status is `sending`. */
  claim: string | null;
}

export interface EventTable {
  id: Id;
  type: string;
  subscriber_id: number | null;
  campaign_id: number | null;
  /** JSON object with the event's details. */
  detail: string;
  created_at: string;
}

export type ApiRole = 'editor' | 'ops' | 'admin';

export interface ApiKeyTable {
  id: Id;
  /** sha256 of the key; the key itself is shown once and never stored. */
  key_hash: string;
  role: ApiRole;
  label: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface Database {
  topics: TopicTable;
  articles: ArticleTable;
  article_topics: ArticleTopicTable;
  subscribers: SubscriberTable;
  subscriptions: SubscriptionTable;
  suppressions: SuppressionTable;
  campaigns: CampaignTable;
  deliveries: DeliveryTable;
  events: EventTable;
  api_keys: ApiKeyTable;
}

export type ArticleRow = Selectable<ArticleTable>;
export type SubscriberRow = Selectable<SubscriberTable>;
export type NewSubscriber = Insertable<SubscriberTable>;
export type SubscriberUpdate = Updateable<SubscriberTable>;
export type CampaignRow = Selectable<CampaignTable>;
export type DeliveryRow = Selectable<DeliveryTable>;
export type NewDelivery = Insertable<DeliveryTable>;
