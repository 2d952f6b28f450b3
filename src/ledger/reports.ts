// Reads of the ledger for other concerns: metrics, a subscriber's data export, a local-time
// campaign's zone instants, the digest's held-alert clean-up; and the erasure's redaction.
import { type Kysely, sql } from 'kysely';
import { keepsCounts, keptLedgerCounts } from '../store/counts.ts';
import type { Database, DeliveryStatus } from '../store/schema.ts';

/** Ledger counts by campaign kind and delivery status (every campaign ever). */
export async function ledgerCountsByKind(
  db: Kysely<Database>,
): Promise<Array<{ kind: string; status: string; count: number }>> {
  const rows = await db
    .selectFrom('deliveries')
    .innerJoin('campaigns', 'campaigns.id', 'deliveries.campaign_id')
    .select(['campaigns.kind as kind', 'deliveries.status as status'])
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .groupBy(['campaigns.kind', 'deliveries.status'])
    .execute();
  return rows.map((row) => ({ kind: row.kind, status: row.status, count: Number(row.count) }));
}

/**
 * Ledger counts per status of the campaigns in flight (sending, paused, scheduled) or changed
 * since `since` (ISO instant).
 */
export async function ledgerCountsOfRecentCampaigns(
  db: Kysely<Database>,
  since: string,
): Promise<
  Array<{ campaignId: number; kind: string; campaignStatus: string; status: string; count: number }>
> {
  const rows = await db
    .selectFrom('deliveries')
    .innerJoin('campaigns', 'campaigns.id', 'deliveries.campaign_id')
    .select([
      'campaigns.id as campaign_id',
      'campaigns.kind as kind',
      'campaigns.status as campaign_status',
      'deliveries.status as status',
    ])
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where((eb) =>
      eb.or([
        eb('campaigns.status', 'in', ['sending', 'paused', 'scheduled']),
        eb('campaigns.updated_at', '>=', since),
      ]),
    )
    .groupBy(['campaigns.id', 'campaigns.kind', 'campaigns.status', 'deliveries.status'])
    .execute();
  return rows.map((row) => ({
    campaignId: Number(row.campaign_id),
    kind: row.kind,
    campaignStatus: row.campaign_status,
    status: row.status,
    count: Number(row.count),
  }));
}

/** One subscriber's ledger rows, for their own data export (no replies: those quote servers). */
export async function subscriberDeliveries(
  db: Kysely<Database>,
  subscriberId: number,
): Promise<
  Array<{ campaign_id: number; status: DeliveryStatus; sent_at: string | null; updated_at: string }>
> {
  return db
    .selectFrom('deliveries')
    .select(['campaign_id', 'status', 'sent_at', 'updated_at'])
    .where('subscriber_id', '=', subscriberId)
    .orderBy('campaign_id')
    .execute();
}

/**
 * The earliest unsent instant per subscriber time zone of a local-time campaign already fanned
 * out (zones whose rows are all sent drop out).
 */
export async function unsentZoneInstants(
  db: Kysely<Database>,
  campaignId: number,
): Promise<Array<{ zone: string; at: string }>> {
  const rows = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['s.timezone', (eb) => eb.fn.min('d.due_at').as('at')])
    .where('d.campaign_id', '=', campaignId)
    .where('d.status', 'in', ['pending', 'sending'])
    .where('d.due_at', 'is not', null)
    .groupBy('s.timezone')
    .execute();
  return rows.map((row) => ({ zone: row.timezone, at: String(row.at) }));
}

/**
 * The subscriber ids that have a row in the campaign, as a subquery for an `in` condition
 * (the digest's transaction deletes the held alerts of the subscribers it took).
 */
export function campaignRecipientIds(db: Kysely<Database>, campaignId: number) {
  return db.selectFrom('deliveries').select('subscriber_id').where('campaign_id', '=', campaignId);
}

/**
 * Inside the erasure's transaction: rewrites with `redact` the last SMTP reply of this
 * subscriber's rows and of any row whose reply contains the LIKE `pattern` (lower-cased;
 * `\` escapes), writing only the rows it changes.
 */
export async function redactLedgerReplies(
  trx: Kysely<Database>,
  subscriberId: number,
  pattern: string,
  redact: (reply: string) => string,
): Promise<void> {
  const deliveries = await trx
    .selectFrom('deliveries')
    .select(['campaign_id', 'subscriber_id', 'last_reply'])
    .where((eb) =>
      eb.or([
        eb('subscriber_id', '=', subscriberId),
        eb(sql`lower(last_reply)`, 'like', sql`${pattern} escape '\\'`),
      ]),
    )
    .where('last_reply', 'is not', null)
    .execute();
  for (const row of deliveries) {
    const redacted = redact(row.last_reply ?? '');
    if (redacted === row.last_reply) continue;
    await trx
      .updateTable('deliveries')
      .set({ last_reply: redacted })
      .where('campaign_id', '=', row.campaign_id)
      .where('subscriber_id', '=', row.subscriber_id)
      .execute();
  }
}

/** A campaign's ledger counts as status reports show them (`sending` counts as pending). */
export interface CampaignLedgerCounts {
  total: number;
  sent: number;
  failed: number;
  bounced: number;
  suppressed: number;
  pending: number;
}

/** The counts of a campaign without ledger rows. */
export function noLedgerCounts(): CampaignLedgerCounts {
  return { total: 0, sent: 0, failed: 0, bounced: 0, suppressed: 0, pending: 0 };
}

const COUNTED_STATUSES = new Set(['sent', 'failed', 'bounced', 'suppressed'] as const);
function isCountedStatus(status: string): status is 'sent' | 'failed' | 'bounced' | 'suppressed' {
  return (COUNTED_STATUSES as Set<string>).has(status);
}

/**
 * The ledger counts of each of these campaigns (a list page's, the dashboard's): on PostgreSQL
 * from the counts its triggers keep (src/store/counts.ts), on SQLite in one grouped query the
 * (campaign_id, status, subscriber_id) index answers; a campaign without rows gets zeros.
 */
export async function ledgerCountsOfCampaigns(
  db: Kysely<Database>,
  campaignIds: readonly number[],
): Promise<Map<number, CampaignLedgerCounts>> {
  const counts = new Map<number, CampaignLedgerCounts>();
  for (const id of campaignIds) {
    counts.set(id, noLedgerCounts());
  }
  if (campaignIds.length === 0) return counts;
  const rows = keepsCounts(db)
    ? await keptLedgerCounts(db, campaignIds)
    : (
        await db
          .selectFrom('deliveries')
          .select(['campaign_id', 'status', (eb) => eb.fn.countAll().as('n')])
          .where('campaign_id', 'in', [...campaignIds])
          .groupBy(['campaign_id', 'status'])
          .execute()
      ).map((row) => ({
        campaignId: Number(row.campaign_id),
        status: row.status,
        n: Number(row.n),
      }));
  for (const row of rows) {
    const entry = counts.get(row.campaignId);
    if (!entry) continue;
    entry.total += row.n;
    if (row.status === 'sending' || row.status === 'pending') entry.pending += row.n;
    else if (isCountedStatus(row.status)) entry[row.status] += row.n;
  }
  return counts;
}

/** Messages sent in one minute of a campaign (`minute`: YYYY-MM-DDTHH:MM, UTC). */
export interface SentMinute {
  minute: string;
  sent: number;
}

/**
 * The campaign's sent rows per UTC minute, oldest first: the report page's progress over time
 * (sent_at is an ISO-8601 text in both dialects, so its first 16 characters are the minute).
 */
export async function sentPerMinute(
  db: Kysely<Database>,
  campaignId: number,
): Promise<SentMinute[]> {
  const minute = sql<string>`substr(sent_at, 1, 16)`;
  const rows = await db
    .selectFrom('deliveries')
    .select([minute.as('minute'), (eb) => eb.fn.countAll().as('n')])
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'sent')
    .where('sent_at', 'is not', null)
    .groupBy(minute)
    .orderBy(minute)
    .execute();
  return rows.map((row) => ({ minute: String(row.minute), sent: Number(row.n) }));
}

/** How many rows ended failed or bounced with one last reply. */
export interface ReplyCount {
  status: 'failed' | 'bounced';
  reply: string;
  count: number;
}

/**
 * The campaign's failed and bounced rows grouped by their last reply, most common first, at
 * most `limit` groups (replies may name the address: the caller masks them before showing).
 */
export async function unsentReplies(
  db: Kysely<Database>,
  campaignId: number,
  limit = 200,
): Promise<ReplyCount[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', 'last_reply', (eb) => eb.fn.countAll().as('n')])
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', ['failed', 'bounced'])
    .groupBy(['status', 'last_reply'])
    .orderBy('n', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    status: row.status as 'failed' | 'bounced',
    reply: row.last_reply ?? '',
    count: Number(row.n),
  }));
}

/** One campaign a subscriber was a recipient of, with their ledger row's state. */
export interface SubscriberCampaignRow {
  campaignId: number;
  kind: string;
  subject: string;
  status: DeliveryStatus;
  attempts: number;
  sentAt: string | null;
  updatedAt: string;
}

/**
 * The campaigns (and digests, confirmations…) one subscriber has a ledger row in, newest row
 * first, at most `limit`: the console's subscriber history. The reply text is left out (it
 * quotes other servers and is shown on the campaign's own report).
 */
export async function subscriberCampaignHistory(
  db: Kysely<Database>,
  subscriberId: number,
  limit: number,
): Promise<SubscriberCampaignRow[]> {
  const rows = await db
    .selectFrom('deliveries')
    .innerJoin('campaigns', 'campaigns.id', 'deliveries.campaign_id')
    .select([
      'deliveries.campaign_id',
      'campaigns.kind',
      'campaigns.subject',
      'deliveries.status',
      'deliveries.attempts',
      'deliveries.sent_at',
      'deliveries.updated_at',
    ])
    .where('deliveries.subscriber_id', '=', subscriberId)
    .orderBy('deliveries.campaign_id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    campaignId: Number(row.campaign_id),
    kind: row.kind,
    subject: row.subject,
    status: row.status,
    attempts: Number(row.attempts),
    sentAt: row.sent_at,
    updatedAt: row.updated_at,
  }));
}
