// What happens to a subscriber after a message: bounces, complaints, unsubscribes, and what
// they add to the suppression list (src/subscribers/suppressions.ts). Every function here is
// idempotent (safe to replay a webhook).
import { type Kysely, sql, type Transaction } from 'kysely';
import { eraseEngagement } from '../engagement/store.ts';
import { markBounced } from '../ledger/ledger.ts';
import { redactLedgerReplies } from '../ledger/reports.ts';
import { nowIso } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { addSuppression, suppressErased } from './suppressions.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** Defaults for the soft-bounce rule (config SOFT_BOUNCE_LIMIT / SOFT_BOUNCE_WINDOW_DAYS). */
export const SOFT_BOUNCE_DEFAULTS = { limit: 3, windowDays: 30 } as const;

export type BounceKind = 'hard' | 'soft' | 'complaint';

export interface BounceInput {
  subscriberId: number;
  campaignId?: number | null;
  kind: BounceKind;
  /** The remote reply or DSN status line (kept in the ledger and the event). */
  reply: string;
  now?: string;
  /** Soft bounces (one per campaign) within the window that suppress the address. */
  softBounceLimit?: number;
  softBounceWindowDays?: number;
}

/** What applyBounce did, for logs and reports. */
export type BounceOutcome =
  | 'bounced'
  | 'soft'
  | 'soft-suppressed'
  | 'complained'
  | 'unknown-subscriber';

/** Records one event row. */
export async function recordEvent(
  db: Db,
  type: string,
  fields: { subscriberId?: number | null; campaignId?: number | null; detail?: object },
  now: string = nowIso(),
): Promise<void> {
  await db
    .insertInto('events')
    .values({
      type,
      subscriber_id: fields.subscriberId ?? null,
      campaign_id: fields.campaignId ?? null,
      detail: JSON.stringify(fields.detail ?? {}),
      created_at: now,
    })
    .execute();
}

/** Whether an event of `type` already exists for this subscriber and campaign. */
async function hasEvent(
  db: Db,
  type: string,
  subscriberId: number,
  campaignId: number | null,
): Promise<boolean> {
  let query = db
    .selectFrom('events')
    .select('id')
    .where('type', '=', type)
    .where('subscriber_id', '=', subscriberId);
  query =
    campaignId === null
      ? query.where('campaign_id', 'is', null)
      : query.where('campaign_id', '=', campaignId);
  return (await query.executeTakeFirst()) !== undefined;
}

/**
 * Applies a bounce or complaint to a subscriber: hard → bounced + suppressed + ledger row
 * bounced; soft → recorded, and suppressed like a hard bounce once the subscriber has soft
 * bounced on `limit` different campaigns within the window; complaint → complained +
 * suppressed. Replaying the same report changes nothing.
 */
export async function applyBounce(
  db: Kysely<Database>,
  input: BounceInput,
): Promise<BounceOutcome> {
  const now = input.now ?? nowIso();
  const campaignId = input.campaignId ?? null;
  const reply = input.reply.slice(0, 1000);
  return db.transaction().execute(async (trx) => {
    const subscriber = await trx
      .selectFrom('subscribers')
      .select(['id', 'email', 'status'])
      .where('id', '=', input.subscriberId)
      .executeTakeFirst();
    if (!subscriber) return 'unknown-subscriber';
    const detail = { reply };

    if (input.kind === 'complaint') {
      if (!(await hasEvent(trx, 'complaint', subscriber.id, campaignId))) {
        await recordEvent(
          trx,
          'complaint',
          { subscriberId: subscriber.id, campaignId, detail },
          now,
        );
      }
      await trx
        .updateTable('subscribers')
        .set({ status: 'complained', updated_at: now })
        .where('id', '=', subscriber.id)
        .execute();
      await addSuppression(
        trx,
        subscriber.email,
        'complaint',
        campaignId ? `campaign ${campaignId}` : null,
        now,
      );
      return 'complained';
    }

    let suppress = input.kind === 'hard';
    if (input.kind === 'soft') {
      if (!(await hasEvent(trx, 'bounce.soft', subscriber.id, campaignId))) {
        await recordEvent(
          trx,
          'bounce.soft',
          { subscriberId: subscriber.id, campaignId, detail },
          now,
        );
      }
      const windowDays = input.softBounceWindowDays ?? SOFT_BOUNCE_DEFAULTS.windowDays;
      const since = new Date(Date.parse(now) - windowDays * 86_400_000).toISOString();
      const counted = await trx
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('type', '=', 'bounce.soft')
        .where('subscriber_id', '=', subscriber.id)
        .where('created_at', '>=', since)
        .executeTakeFirstOrThrow();
      suppress = Number(counted.n) >= (input.softBounceLimit ?? SOFT_BOUNCE_DEFAULTS.limit);
      if (!suppress) return 'soft';
    } else if (!(await hasEvent(trx, 'bounce.hard', subscriber.id, campaignId))) {
      await recordEvent(
        trx,
        'bounce.hard',
        { subscriberId: subscriber.id, campaignId, detail },
        now,
      );
    }

    // A complaint is the stronger state: a later bounce does not overwrite it.
    if (subscriber.status !== 'complained') {
      await trx
        .updateTable('subscribers')
        .set({ status: 'bounced', updated_at: now })
        .where('id', '=', subscriber.id)
        .execute();
    }
    await addSuppression(
      trx,
      subscriber.email,
      'hard-bounce',
      input.kind === 'soft' ? 'soft-bounce limit reached' : null,
      now,
    );
    if (campaignId !== null) await markBounced(trx, campaignId, subscriber.id, reply, now);
    return input.kind === 'soft' ? 'soft-suppressed' : 'bounced';
  });
}

/**
 * Unsubscribes a subscriber: from one topic when `topicId` is given, otherwise from
 * everything (status unsubscribed + suppression 'unsubscribe'). Returns false when the
 * subscriber does not exist.
 */
export async function unsubscribe(
  db: Kysely<Database>,
  subscriberId: number,
  options: { campaignId?: number | null; topicId?: string | null; now?: string } = {},
): Promise<boolean> {
  const now = options.now ?? nowIso();
  const campaignId = options.campaignId ?? null;
  return db.transaction().execute(async (trx) => {
    const subscriber = await trx
      .selectFrom('subscribers')
      .select(['id', 'email', 'status'])
      .where('id', '=', subscriberId)
      .executeTakeFirst();
    if (!subscriber) return false;
    if (options.topicId) {
      const removed = await trx
        .deleteFrom('subscriptions')
        .where('subscriber_id', '=', subscriberId)
        .where('topic_id', '=', options.topicId)
        .executeTakeFirst();
      if (Number(removed.numDeletedRows) > 0) {
        await recordEvent(
          trx,
          'unsubscribe.topic',
          { subscriberId, campaignId, detail: { topic: options.topicId } },
          now,
        );
      }
      return true;
    }
    if (subscriber.status === 'pending' || subscriber.status === 'active') {
      await trx
        .updateTable('subscribers')
        .set({ status: 'unsubscribed', updated_at: now })
        .where('id', '=', subscriberId)
        .execute();
      await recordEvent(trx, 'unsubscribe', { subscriberId, campaignId }, now);
    }
    await addSuppression(trx, subscriber.email, 'unsubscribe', null, now);
    return true;
  });
}

/** What stands where an erased address was quoted (in SMTP replies, event details). */
export const ERASED_ADDRESS = '[erased address]';

/** `text` with every occurrence of `email` (any letter case) replaced by ERASED_ADDRESS. */
export function redactAddress(text: string, email: string): string {
  const literal = email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(literal, 'gi'), ERASED_ADDRESS);
}

/** A LIKE pattern matching `text` anywhere, with LIKE's own wildcards escaped by `\`. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * Rewrites the text columns outside the subscriber row that can quote an address: the
 * ledger's last SMTP reply (`550 5.1.1 <ana@…>: unknown user`), event details (bounce and
 * complaint replies) and suppression notes. Rows of this subscriber, and any other row quoting the address
 * (a DSN for someone else can quote it too), in any letter case.
 */
async function redactQuotedAddress(
  trx: Transaction<Database>,
  subscriberId: number,
  email: string,
): Promise<void> {
  const pattern = containsPattern(email);
  await redactLedgerReplies(trx, subscriberId, pattern, (reply) => redactAddress(reply, email));
  const events = await trx
    .selectFrom('events')
    .select(['id', 'detail'])
    .where((eb) =>
      eb.or([
        eb('subscriber_id', '=', subscriberId),
        eb(sql`lower(detail)`, 'like', sql`${pattern} escape '\\'`),
      ]),
    )
    .execute();
  for (const row of events) {
    const redacted = redactAddress(row.detail, email);
    if (redacted !== row.detail) {
      await trx.updateTable('events').set({ detail: redacted }).where('id', '=', row.id).execute();
    }
  }
  // An editor's note on someone else's suppression can name the address too.
  const notes = await trx
    .selectFrom('suppressions')
    .select(['id', 'note'])
    .where(sql`lower(note)`, 'like', sql`${pattern} escape '\\'`)
    .execute();
  for (const row of notes) {
    await trx
      .updateTable('suppressions')
      .set({ note: redactAddress(row.note ?? '', email) })
      .where('id', '=', row.id)
      .execute();
  }
}

/**
 * Erases a subscriber ("delete me"): the row, their topics and the address go, and every copy
 * of the address quoted elsewhere in the store (ledger replies, event details) is redacted;
 * only the address's hash stays on the suppression list (reason 'erased') so it is never
 * mailed again. The ledger rows stay (a campaign's counts are derived from them) without it.
 */
export async function eraseSubscriber(
  db: Kysely<Database>,
  subscriberId: number,
  now: string = nowIso(),
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const subscriber = await trx
      .selectFrom('subscribers')
      .select(['id', 'email'])
      .where('id', '=', subscriberId)
      .executeTakeFirst();
    if (!subscriber) return false;
    await suppressErased(trx, subscriber.email, now);
    await redactQuotedAddress(trx, subscriberId, subscriber.email);
    await trx.deleteFrom('subscriptions').where('subscriber_id', '=', subscriberId).execute();
    await eraseEngagement(trx, subscriberId);
    await trx.deleteFrom('subscribers').where('id', '=', subscriberId).execute();
    await recordEvent(trx, 'erased', { subscriberId }, now);
    return true;
  });
}

/** The event types a dashboard lists as bounces and complaints. */
export const BOUNCE_EVENT_TYPES = ['bounce.hard', 'bounce.soft', 'complaint'] as const;

/** One bounce or complaint as the console lists it. */
export interface BounceEventItem {
  id: number;
  type: (typeof BOUNCE_EVENT_TYPES)[number];
  /** The subscriber's address (null once they were erased). */
  email: string | null;
  campaignId: number | null;
  /** The remote reply or DSN line the event kept (cut to 200 characters). */
  reply: string | null;
  createdAt: string;
}

/** The newest bounces and complaints, newest first. */
export async function recentBounceEvents(db: Db, limit = 10): Promise<BounceEventItem[]> {
  const rows = await db
    .selectFrom('events as e')
    .leftJoin('subscribers as s', 's.id', 'e.subscriber_id')
    .select(['e.id', 'e.type', 'e.campaign_id', 'e.detail', 'e.created_at', 's.email'])
    .where('e.type', 'in', [...BOUNCE_EVENT_TYPES])
    .orderBy('e.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => {
    let reply: string | null = null;
    try {
      const detail: unknown = JSON.parse(row.detail);
      const value = (detail as { reply?: unknown } | null)?.reply;
      if (typeof value === 'string') reply = value.slice(0, 200);
    } catch {
      reply = null; // a detail that is not JSON shows no reply
    }
    return {
      id: Number(row.id),
      type: row.type as BounceEventItem['type'],
      email: row.email ?? null,
      campaignId: row.campaign_id,
      reply,
      createdAt: row.created_at,
    };
  });
}

/** One stored event of a subscriber, as the console's history shows it. */
export interface SubscriberEvent {
  type: string;
  campaignId: number | null;
  /** The event's details (a bounce's SMTP reply, an unsubscribed topic…). */
  detail: Record<string, unknown>;
  createdAt: string;
}

/** A subscriber's events, newest first, at most `limit`. */
export async function subscriberEvents(
  db: Db,
  subscriberId: number,
  limit: number,
): Promise<SubscriberEvent[]> {
  const rows = await db
    .selectFrom('events')
    .select(['type', 'campaign_id', 'detail', 'created_at'])
    .where('subscriber_id', '=', subscriberId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => {
    let detail: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(row.detail);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        detail = parsed as Record<string, unknown>;
      }
    } catch {
      // A detail that is not JSON is shown as nothing rather than failing the page.
    }
    return {
      type: row.type,
      campaignId: row.campaign_id,
      detail,
      createdAt: row.created_at,
    };
  });
}
