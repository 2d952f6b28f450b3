// Who a campaign goes to: active subscribers following any audience topic, minus suppressed
// addresses. Read in pages by subscriber id, never loaded whole.
import type { ExpressionBuilder, Kysely } from 'kysely';
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

/** Counts the audience (excluding suppressed addresses) by walking it in pages. */
export async function countAudience(
  db: Kysely<Database>,
  topics: readonly string[],
): Promise<number> {
  let count = 0;
  let after = 0;
  for (;;) {
    const page = await readAudiencePage(db, topics, after, 5_000);
    if (page.lastId === null) return count;
    count += page.members.filter((member) => !member.suppressed).length;
    after = page.lastId;
  }
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
