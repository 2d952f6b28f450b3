// Who is due for a digest at an instant, as SQL over the subscribers table (nothing here
// writes): the preference combinations whose period is due, each one's due subscribers in id
// pages, and the classes those subscribers fall in. A class is (followed topics, "since"):
// everything a digest's content depends on apart from held-back alerts, so one class is one
// digest, decided once in Node however many subscribers it holds.
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { emailHashSql } from '../store/email-hash-sql.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';
import { type DigestFrequency, type DigestPeriod, duePeriod } from './period.ts';

/** A preference combination (zone, hour, weekday, frequency) whose period is due. */
export interface DueCombo {
  digest: DigestFrequency;
  /** Digest-off subscribers with held-back alerts, served at their daily send hour. */
  heldOnly: boolean;
  sendHour: number;
  weekday: number;
  timezone: string;
  period: DigestPeriod;
}

/** A page of a combination's due subscribers: ids in (afterId, lastId]. */
export interface DuePage {
  combo: DueCombo;
  afterId: number;
  lastId: number;
}

/** Due subscribers of a page that share followed topics and "since", hence one digest. */
export interface DueClass {
  /** The followed topic ids joined by TOPIC_SEPARATOR in id order ('' for none). */
  topicsKey: string;
  topics: string[];
  /** Their previous digest (or the previous period's start for a first one), ISO text. */
  since: string;
  members: number;
}

// Topic ids are lower-case words joined by hyphens (topics/catalogue.ts): never a comma.
const TOPIC_SEPARATOR = ',';

type Scope = Database & { s: Database['subscribers'] };

/**
 * The preference combinations whose period is due at `at`; digest-off subscribers count as
 * daily when they have held-back alerts.
 */
export async function dueCombos(db: Kysely<Database>, at: Date): Promise<DueCombo[]> {
  const rows = await db
    .selectFrom('subscribers')
    .select(['timezone', 'send_hour', 'digest_weekday', 'digest'])
    .distinct()
    .where('status', '=', 'active')
    .where((eb) =>
      eb.or([
        eb('digest', 'in', ['daily', 'weekly']),
        eb('id', 'in', newsroomDb(db).selectFrom('alert_held').select('subscriber_id')),
      ]),
    )
    .execute();
  const combos = new Map<string, DueCombo>();
  for (const row of rows) {
    const heldOnly = row.digest === 'off';
    const prefs = {
      digest: heldOnly ? 'daily' : (row.digest as DigestFrequency),
      heldOnly,
      sendHour: row.send_hour,
      // The weekday matters for weekly digests only: daily ones must not be read once per weekday.
      weekday: row.digest === 'weekly' ? row.digest_weekday : 0,
      timezone: row.timezone,
    };
    const key = `${row.digest}|${prefs.sendHour}|${prefs.weekday}|${prefs.timezone}`;
    if (combos.has(key)) continue;
    const period = duePeriod(prefs, at);
    if (period) combos.set(key, { ...prefs, period });
  }
  return [...combos.values()];
}

/** `subscribers as s` still without this period's digest (the guard against a second one). */
export function stillDue(periodStart: string) {
  return sql<boolean>`(s.last_digest_at is null or s.last_digest_at < ${periodStart})`;
}

// Both anti-joins are written NOT IN over a small table so that PostgreSQL hashes it once
// (a hashed subplan) whatever its row estimates, instead of probing an index per subscriber.

/** `subscribers as s` has held-back alerts waiting (`not` for the opposite). */
function heldAlerts(not = false) {
  return sql<boolean>`s.id ${sql.raw(not ? 'not in' : 'in')} (select h.subscriber_id from alert_held as h)`;
}

/** `subscribers as s` is not on the suppression list (matched by its hash, in SQL). */
function notSuppressed(db: Kysely<Database>) {
  return sql<boolean>`${emailHashSql(db, sql.ref('s.email'))} not in (select x.email_hash from suppressions as x)`;
}

/** The combination's due subscribers (alias `s`), suppressed ones included. */
function dueScope(db: Kysely<Database>, combo: DueCombo) {
  return db
    .selectFrom('subscribers as s')
    .where('s.status', '=', 'active')
    .where('s.digest', '=', combo.heldOnly ? 'off' : combo.digest)
    .where('s.timezone', '=', combo.timezone)
    .where('s.send_hour', '=', combo.sendHour)
    .$if(combo.digest === 'weekly', (qb) => qb.where('s.digest_weekday', '=', combo.weekday))
    .$if(combo.heldOnly, (qb) => qb.where(heldAlerts()))
    .where(stillDue(combo.period.start.toISOString()));
}

/** The last id of the next page of at most `limit` due subscribers after `afterId`; null at the end. */
export async function duePageEnd(
  db: Kysely<Database>,
  combo: DueCombo,
  afterId: number,
  limit: number,
): Promise<number | null> {
  const page = dueScope(db, combo)
    .select('s.id')
    .where('s.id', '>', afterId)
    .orderBy('s.id')
    .limit(limit)
    .as('page');
  const row = await db
    .selectFrom(page)
    .select((eb) => eb.fn.max('page.id').as('last_id'))
    .executeTakeFirst();
  return row?.last_id == null ? null : Number(row.last_id);
}

/**
 * A page's due subscribers without held-back alerts and not suppressed, one row each with its
 * class (`topics_key`, `since`): the rows a digest tick takes set-based. Subscribers with held
 * alerts get digests of their own content (see heldDue).
 */
export function classMembers(
  db: Kysely<Database>,
  page: DuePage,
): SelectQueryBuilder<Scope, 's', { id: number; topics_key: string; since: string }> {
  const previousStart = page.combo.period.previousStart.toISOString();
  return dueScope(db, page.combo)
    .leftJoin('subscriptions as f', 'f.subscriber_id', 's.id')
    .where('s.id', '>', page.afterId)
    .where('s.id', '<=', page.lastId)
    .where(heldAlerts(true))
    .where(notSuppressed(db))
    .groupBy(['s.id', 's.last_digest_at'])
    .select([
      's.id',
      sql<string>`coalesce(string_agg(f.topic_id, ${TOPIC_SEPARATOR} order by f.topic_id), '')`.as(
        'topics_key',
      ),
      sql<string>`coalesce(s.last_digest_at, ${previousStart})`.as('since'),
    ]) as unknown as SelectQueryBuilder<
    Scope,
    's',
    { id: number; topics_key: string; since: string }
  >;
}

/** The classes of a page's set-based members (see classMembers), with their sizes. */
export async function dueClasses(db: Kysely<Database>, page: DuePage): Promise<DueClass[]> {
  const rows = await db
    .selectFrom(classMembers(db, page).as('m'))
    .select(['m.topics_key', 'm.since', (eb) => eb.fn.countAll<number | string>().as('members')])
    .groupBy(['m.topics_key', 'm.since'])
    .orderBy('m.topics_key')
    .orderBy('m.since')
    .execute();
  return rows.map((row) => ({
    topicsKey: row.topics_key,
    topics: row.topics_key === '' ? [] : row.topics_key.split(TOPIC_SEPARATOR),
    since: row.since,
    members: Number(row.members),
  }));
}

/** The next page of due, unsuppressed subscribers with held-back alerts, after `afterId`. */
export async function heldDue(
  db: Kysely<Database>,
  combo: DueCombo,
  afterId: number,
  limit: number,
): Promise<
  Array<{ id: number; email: string; email_display: string | null; last_digest_at: string | null }>
> {
  return dueScope(db, combo)
    .select(['s.id', 's.email', 's.email_display', 's.last_digest_at'])
    .where('s.id', '>', afterId)
    .where(heldAlerts())
    .where(notSuppressed(db))
    .orderBy('s.id')
    .limit(limit)
    .execute();
}
