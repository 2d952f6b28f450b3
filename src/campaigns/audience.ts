// Who a campaign goes to: active subscribers following any audience topic, minus suppressed
// addresses. Read in pages by subscriber id, never loaded whole.
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { emailHashSql } from '../store/email-hash-sql.ts';
import type { Database } from '../store/schema.ts';
import { emailHash } from '../subscribers/identity.ts';
import { suppressedHashes } from '../subscribers/suppressions.ts';

export interface AudienceMember {
  subscriberId: number;
  timezone: string;
  /** The address is on the suppression list: the member gets a `suppressed` ledger row. */
  suppressed: boolean;
}

export interface AudiencePage {
  members: AudienceMember[];
  /** The last subscriber id read (page from here next); null when nothing was left. */
  lastId: number | null;
}

/** `subscribers as s` follows at least one of the topics (the audience's defining filter). */
export function followsAny(eb: ExpressionBuilder<SubscriberScope, 's'>, topics: readonly string[]) {
  return eb.exists(
    eb
      .selectFrom('subscriptions as f')
      .select('f.subscriber_id')
      .whereRef('f.subscriber_id', '=', 's.id')
      .where('f.topic_id', 'in', [...topics]),
  );
}

type SubscriberScope = Database & { s: Database['subscribers'] };

/** Reads the next page of the audience after `afterId`, in subscriber-id order. */
export async function readAudiencePage(
  db: Kysely<Database>,
  topics: readonly string[],
  afterId: number,
  limit: number,
): Promise<AudiencePage> {
  if (topics.length === 0) return { members: [], lastId: null };
  const rows = await db
    .selectFrom('subscribers as s')
    .select(['s.id', 's.email', 's.timezone'])
    .where('s.status', '=', 'active')
    .where('s.id', '>', afterId)
    .where((eb) => followsAny(eb, topics))
    .orderBy('s.id')
    .limit(limit)
    .execute();
  if (rows.length === 0) return { members: [], lastId: null };
  const suppressed = await suppressedHashes(
    db,
    rows.map((row) => emailHash(row.email)),
  );
  return {
    members: rows.map((row) => ({
      subscriberId: row.id,
      timezone: row.timezone,
      suppressed: suppressed.has(emailHash(row.email)),
    })),
    lastId: rows[rows.length - 1]!.id,
  };
}

/** Margin for clocks of different machines when telling rows made after an erasure. */
const ERASURE_CLOCK_MARGIN_MS = 60 * 60 * 1000;

/**
 * Counts the audience, suppressed addresses left out, in the database: the audience, minus
 * its members whose address is on the list. A suppression keeps its address (compared
 * lower-cased, through the lower(email) index) except an erasure's, which keeps only the hash:
 * an erased subscriber's row is deleted with it, so only rows made since the first erasure
 * (less a margin for clocks) can match one, and only those are hashed.
 */
export async function countAudience(
  db: Kysely<Database>,
  topics: readonly string[],
): Promise<number> {
  if (topics.length === 0) return 0;
  const audience = db
    .selectFrom('subscribers as s')
    .where('s.status', '=', 'active')
    .where((eb) => followsAny(eb, topics));
  const [members, byAddress, firstErasure] = await Promise.all([
    audience.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow(),
    audience
      .innerJoin('suppressions as p', (join) =>
        join.on(sql`lower(p.email)`, '=', sql`lower(s.email)`),
      )
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('suppressions')
      .select((eb) => eb.fn.min('created_at').as('at'))
      .where('email', 'is', null)
      .executeTakeFirst(),
  ]);
  let suppressed = Number(byAddress.n);
  if (firstErasure?.at) {
    const since = new Date(Date.parse(firstErasure.at) - ERASURE_CLOCK_MARGIN_MS).toISOString();
    const erased = await audience
      .where('s.created_at', '>=', since)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('suppressions as p')
            .select('p.id')
            .where('p.email', 'is', null)
            .where('p.email_hash', '=', emailHashSql(db, eb.ref('s.email'))),
        ),
      )
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    suppressed += Number(erased.n);
  }
  return Number(members.n) - suppressed;
}

/** The distinct time zones of a campaign's current audience (active followers of its topics). */
export async function audienceZones(
  db: Kysely<Database>,
  topics: readonly string[],
): Promise<string[]> {
  if (topics.length === 0) return [];
  const rows = await db
    .selectFrom('subscribers as s')
    .select('s.timezone')
    .distinct()
    .where('s.status', '=', 'active')
    .where((eb) => followsAny(eb, topics))
    .execute();
  return rows.map((row) => row.timezone);
}
