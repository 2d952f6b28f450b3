// Subscribers in the store: validation of what a subscriber is, one-at-a-time upsert and reads.
// Bulk writes (CSV import) live in import.ts; state changes from events in events.ts.
import { type Kysely, sql, type Transaction } from 'kysely';
import { z } from 'zod';
import { InputError } from '../errors/index.ts';
import { nowIso } from '../store/db.ts';
import type {
  Database,
  DigestFrequency,
  SubscriberRow,
  SubscriberStatus,
  SubscriberUpdate,
} from '../store/schema.ts';
import { parseEmail, parseEmailParts } from './identity.ts';

export const digestFrequencies = ['off', 'daily', 'weekly'] as const satisfies DigestFrequency[];
export const subscriberStatuses = [
  'pending',
  'active',
  'unsubscribed',
  'bounced',
  'complained',
] as const satisfies SubscriberStatus[];

/** A subscriber input that failed validation: `field` names what, `message` says why. */
export class SubscriberInputError extends InputError {
  constructor(field: string, message: string) {
    super('invalid', field, `${field}: ${message}`);
    this.name = 'SubscriberInputError';
  }
}

const zoneCache = new Map<string, string | null>();

/** The canonical IANA zone name for `zone` (as Intl knows it), or null when Intl rejects it. */
export function canonicalTimeZone(zone: string): string | null {
  const cached = zoneCache.get(zone);
  if (cached !== undefined) return cached;
  let result: string | null = null;
  // Intl accepts offsets like "+01:00" too; only named zones (and UTC) are meant here.
  if (/^[A-Za-z][A-Za-z0-9_+/-]*$/.test(zone)) {
    try {
      result = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      result = null;
    }
  }
  if (zoneCache.size < 10_000) zoneCache.set(zone, result);
  return result;
}

/** What upsertSubscriber accepts. */
export const subscriberInputSchema = z.object({
  email: z.string(),
  name: z.string().trim().max(200, 'must be at most 200 characters').nullish(),
  topics: z.array(z.string().trim().min(1)).optional(),
  timezone: z.string().trim().optional(),
  digest: z.enum(digestFrequencies, { message: 'must be off, daily or weekly' }).optional(),
  sendHour: z.number().int().min(0, 'must be 0-23').max(23, 'must be 0-23').optional(),
  status: z.enum(['pending', 'active']).optional(),
});
export type SubscriberInput = z.infer<typeof subscriberInputSchema>;

/** A validated input: email normalised, zone canonical, topics de-duplicated. */
export interface ValidSubscriberInput {
  /** The normal form (the store's key). */
  email: string;
  /** The address as typed (domain lower-cased), for display. */
  displayEmail?: string;
  name?: string | null;
  topics?: string[];
  timezone?: string;
  digest?: DigestFrequency;
  sendHour?: number;
  status?: 'pending' | 'active';
}

/**
 * The changes an input brings to an existing subscriber: only the fields it gives, and
 * pending → active when the input comes in confirmed (a status never moves otherwise).
 */
export function updateFromInput(
  valid: ValidSubscriberInput,
  incomingStatus: 'pending' | 'active' | undefined,
  currentStatus: SubscriberStatus,
  now: string,
): SubscriberUpdate {
  const activate = incomingStatus === 'active' && currentStatus === 'pending';
  return {
    ...(valid.name !== undefined ? { name: valid.name } : {}),
    ...(valid.timezone !== undefined ? { timezone: valid.timezone } : {}),
    ...(valid.digest !== undefined ? { digest: valid.digest } : {}),
    ...(valid.sendHour !== undefined ? { send_hour: valid.sendHour } : {}),
    ...(activate ? { status: 'active' as const, confirmed_at: now } : {}),
    updated_at: now,
  };
}

/**
 * Validates an input without touching the store (topics are checked against `knownTopics`
 * when given); throws SubscriberInputError naming the first bad field.
 */
export function validateSubscriberInput(
  input: SubscriberInput,
  knownTopics?: ReadonlySet<string>,
): ValidSubscriberInput {
  const parsed = subscriberInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SubscriberInputError(String(issue.path[0] ?? 'input'), issue.message);
  }
  const data = parsed.data;
  const email = parseEmailParts(data.email);
  if (!email) throw new SubscriberInputError('email', 'bad email: not a valid address');
  const result: ValidSubscriberInput = { email: email.key, displayEmail: email.display };
  if (data.name !== undefined) result.name = data.name === '' ? null : data.name;
  if (data.timezone !== undefined && data.timezone !== '') {
    const zone = canonicalTimeZone(data.timezone);
    if (!zone) {
      throw new SubscriberInputError('timezone', `bad time zone: "${data.timezone}" is not IANA`);
    }
    result.timezone = zone;
  }
  if (data.topics !== undefined) {
    const topics = [...new Set(data.topics)];
    if (knownTopics) {
      const unknown = topics.find((topic) => !knownTopics.has(topic));
      if (unknown !== undefined) {
        throw new SubscriberInputError('topics', `unknown topic: "${unknown}"`);
      }
    }
    result.topics = topics;
  }
  if (data.digest !== undefined) result.digest = data.digest;
  if (data.sendHour !== undefined) result.sendHour = data.sendHour;
  if (data.status !== undefined) result.status = data.status;
  return result;
}

/** The ids of every topic in the catalogue. */
export async function topicIds(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db.selectFrom('topics').select('id').execute();
  return new Set(rows.map((row) => row.id));
}

/** Replaces a subscriber's followed topics with `topics`. */
export async function setSubscriptions(
  db: Kysely<Database> | Transaction<Database>,
  subscriberId: number,
  topics: readonly string[],
  now: string,
): Promise<void> {
  await db.deleteFrom('subscriptions').where('subscriber_id', '=', subscriberId).execute();
  if (topics.length === 0) return;
  await db
    .insertInto('subscriptions')
    .values(
      topics.map((topic) => ({ subscriber_id: subscriberId, topic_id: topic, created_at: now })),
    )
    .execute();
}

/**
 * Creates or updates one subscriber by normalised email (any casing finds the same row; the
 * first casing seen stays the shown one) and sets their topics when given;
 * `created` says whether the row is new. An existing subscriber's status only moves
 * pending → active (an import never revives someone who unsubscribed, bounced or complained).
 */
export async function upsertSubscriber(
  db: Kysely<Database>,
  input: SubscriberInput,
  now: string = nowIso(),
): Promise<{ id: number; created: boolean }> {
  const valid = validateSubscriberInput(
    input,
    input.topics && input.topics.length > 0 ? await topicIds(db) : undefined,
  );
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('subscribers')
      .select(['id', 'status'])
      .where('email', '=', valid.email)
      .executeTakeFirst();
    if (existing) {
      await trx
        .updateTable('subscribers')
        .set(updateFromInput(valid, valid.status, existing.status, now))
        .where('id', '=', existing.id)
        .execute();
      if (valid.topics !== undefined) await setSubscriptions(trx, existing.id, valid.topics, now);
      return { id: existing.id, created: false };
    }
    const status = valid.status ?? 'active';
    const row = await trx
      .insertInto('subscribers')
      .values({
        email: valid.email,
        email_display: valid.displayEmail ?? null,
        name: valid.name ?? null,
        status,
        digest: valid.digest ?? 'off',
        send_hour: valid.sendHour ?? 7,
        timezone: valid.timezone ?? 'UTC',
        created_at: now,
        confirmed_at: status === 'active' ? now : null,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (valid.topics !== undefined) await setSubscriptions(trx, row.id, valid.topics, now);
    return { id: row.id, created: true };
  });
}

/** A subscriber with the topics they follow. */
export interface Subscriber {
  id: number;
  /** The address as typed (for display); identity is its lower-cased form. */
  email: string;
  name: string | null;
  status: SubscriberStatus;
  topics: string[];
  digest: DigestFrequency;
  sendHour: number;
  digestWeekday: number;
  timezone: string;
  createdAt: string;
  confirmedAt: string | null;
  updatedAt: string;
}

async function withTopics(db: Kysely<Database>, row: SubscriberRow): Promise<Subscriber> {
  const topics = await db
    .selectFrom('subscriptions')
    .select('topic_id')
    .where('subscriber_id', '=', row.id)
    .orderBy('topic_id')
    .execute();
  return toSubscriber(
    row,
    topics.map((t) => t.topic_id),
  );
}

/** Maps a stored row (and its topics) to the Subscriber shape. */
export function toSubscriber(row: SubscriberRow, topics: string[]): Subscriber {
  return {
    id: row.id,
    email: row.email_display ?? row.email,
    name: row.name,
    status: row.status,
    topics,
    digest: row.digest,
    sendHour: row.send_hour,
    digestWeekday: row.digest_weekday,
    timezone: row.timezone,
    createdAt: row.created_at,
    confirmedAt: row.confirmed_at,
    updatedAt: row.updated_at,
  };
}

/** One subscriber by id, with topics, or null. */
export async function getSubscriber(db: Kysely<Database>, id: number): Promise<Subscriber | null> {
  const row = await db
    .selectFrom('subscribers')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? withTopics(db, row) : null;
}

/** One subscriber by address in any casing, with topics, or null. */
export async function findSubscriberByEmail(
  db: Kysely<Database>,
  email: string,
): Promise<Subscriber | null> {
  const normalised = parseEmail(email);
  if (!normalised) return null;
  const row = await db
    .selectFrom('subscribers')
    .selectAll()
    .where('email', '=', normalised)
    .executeTakeFirst();
  return row ? withTopics(db, row) : null;
}

/** Changes to a subscriber's preferences (from the preference centre). */
export interface PreferenceChanges {
  name?: string | null;
  topics?: string[];
  digest?: DigestFrequency;
  sendHour?: number;
  timezone?: string;
}

/** Applies preference changes to one subscriber; validates like upsertSubscriber. */
export async function updatePreferences(
  db: Kysely<Database>,
  subscriberId: number,
  changes: PreferenceChanges,
  now: string = nowIso(),
): Promise<void> {
  const valid = validateSubscriberInput(
    { email: 'placeholder@example.org', ...changes },
    changes.topics && changes.topics.length > 0 ? await topicIds(db) : undefined,
  );
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('subscribers')
      .set({
        ...(valid.name !== undefined ? { name: valid.name } : {}),
        ...(valid.timezone !== undefined ? { timezone: valid.timezone } : {}),
        ...(valid.digest !== undefined ? { digest: valid.digest } : {}),
        ...(valid.sendHour !== undefined ? { send_hour: valid.sendHour } : {}),
        updated_at: now,
      })
      .where('id', '=', subscriberId)
      .execute();
    if (valid.topics !== undefined) await setSubscriptions(trx, subscriberId, valid.topics, now);
  });
}

/**
 * Marks a pending (or formerly unsubscribed, who asked again) subscriber active after the
 * double opt-in click; returns the status after the call, null when the subscriber is gone.
 */
export async function confirmSubscriber(
  db: Kysely<Database>,
  subscriberId: number,
  now: string = nowIso(),
): Promise<SubscriberStatus | null> {
  await db
    .updateTable('subscribers')
    .set({ status: 'active', confirmed_at: now, updated_at: now })
    .where('id', '=', subscriberId)
    .where('status', 'in', ['pending', 'unsubscribed'])
    .execute();
  const row = await db
    .selectFrom('subscribers')
    .select('status')
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  return row?.status ?? null;
}

/** What `subscribers find` filters by; every given filter must hold. */
export interface SubscriberQuery {
  /** Part of the address or the name, in any case. */
  text?: string;
  status?: SubscriberStatus;
  topic?: string;
}

/** Escapes LIKE wildcards so a search text matches itself only. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Subscribers matching the query in id order, `limit` of them after the subscriber `after`;
 * reads one extra row so the caller knows whether another page follows.
 */
export async function findSubscribers(
  db: Kysely<Database>,
  filter: SubscriberQuery,
  page: { limit: number; after: number | null },
): Promise<Subscriber[]> {
  let query = db.selectFrom('subscribers').selectAll();
  if (filter.text) {
    // `email` is stored lower-cased; names compare lower-cased on both dialects.
    const pattern = likePattern(filter.text.trim().toLowerCase());
    query = query.where((eb) =>
      eb.or([
        eb(sql`email`, 'like', sql`${pattern} escape '\\'`),
        eb(sql`lower(coalesce(name, ''))`, 'like', sql`${pattern} escape '\\'`),
      ]),
    );
  }
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.topic) {
    const topic = filter.topic;
    query = query.where('id', 'in', (sub) =>
      sub.selectFrom('subscriptions').select('subscriber_id').where('topic_id', '=', topic),
    );
  }
  if (page.after !== null) query = query.where('id', '>', page.after);
  const rows = await query
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  if (rows.length === 0) return [];
  const topics = await topicsOfSubscribers(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => toSubscriber(row, topics.get(row.id) ?? []));
}

/** The topics each of these subscribers follows, sorted, by subscriber id (one query). */
export async function topicsOfSubscribers(
  db: Kysely<Database>,
  subscriberIds: readonly number[],
): Promise<Map<number, string[]>> {
  const topics = new Map<number, string[]>();
  if (subscriberIds.length === 0) return topics;
  const follows = await db
    .selectFrom('subscriptions')
    .select(['subscriber_id', 'topic_id'])
    .where('subscriber_id', 'in', subscriberIds)
    .orderBy('topic_id')
    .execute();
  for (const follow of follows) {
    const list = topics.get(follow.subscriber_id) ?? [];
    list.push(follow.topic_id);
    topics.set(follow.subscriber_id, list);
  }
  return topics;
}
