// The welcome mail: sent once when a subscriber confirms, through the normal delivery path
// (a campaign of kind `welcome` with one ledger row, sent by the delivery workers with every
// compliance header). Creating it is one transaction keyed by the subscriber (welcome_mails
// primary key), so it exists at most once; the reconciler enqueues its batch (it is prepared
// and sending), and sweeps confirmations that a crash left without one. Its own MJML layout
// (templates/layouts/welcome.mjml) lists the subscriber's topics and digest choice.
import { type Kysely, sql } from 'kysely';
import { insertWelcomeRow } from '../ledger/inserts.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';

export const WELCOME_SUBJECT = 'Welcome: your subscription is confirmed';

/** Stands in for "no topic" so the audience list is never empty (SQL `in ()`). */
export const NO_TOPIC = 'none';

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/**
 * Creates the subscriber's welcome campaign and ledger row unless they have one; returns its
 * campaign id, or null when the subscriber is not active (nothing to welcome).
 */
export async function createWelcome(
  db: Kysely<Database>,
  subscriberId: number,
  now: string,
): Promise<number | null> {
  const existing = await newsroomDb(db)
    .selectFrom('welcome_mails')
    .select('campaign_id')
    .where('subscriber_id', '=', subscriberId)
    .executeTakeFirst();
  if (existing) return existing.campaign_id;
  const subscriber = await db
    .selectFrom('subscribers')
    .select('status')
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  if (subscriber?.status !== 'active') return null;
  const topics = (
    await db
      .selectFrom('subscriptions')
      .select('topic_id')
      .where('subscriber_id', '=', subscriberId)
      .orderBy('topic_id')
      .execute()
  ).map((row) => row.topic_id);
  try {
    return await db.transaction().execute(async (trx) => {
      const campaign = await trx
        .insertInto('campaigns')
        .values({
          kind: 'welcome',
          subject: WELCOME_SUBJECT,
          template: 'welcome',
          article_ids: '[]',
          audience_topics: JSON.stringify(topics.length > 0 ? topics : [NO_TOPIC]),
          status: 'sending',
          created_at: now,
          updated_at: now,
          started_at: now,
          prepared_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await newsroomDb(trx)
        .insertInto('welcome_mails')
        .values({ subscriber_id: subscriberId, campaign_id: campaign.id, created_at: now })
        .execute();
      await insertWelcomeRow(trx, campaign.id, subscriberId, now);
      return campaign.id;
    });
  } catch (error) {
    // A concurrent confirm (or sweep) made it first: theirs is the one.
    if (isUniqueViolation(error)) return createWelcome(db, subscriberId, now);
    throw error;
  }
}

/**
 * Welcomes subscribers whose confirmation (a `confirmed` event in the last `days`) has no
 * welcome yet: a crash between confirming and creating the welcome leaves such a gap.
 * Confirmations from before the welcome mail existed (the store's upgrade to migration 0008)
 * are not welcomed late.
 */
export async function sweepWelcomes(db: Kysely<Database>, now: Date, days = 7): Promise<number> {
  const window = new Date(now.getTime() - days * 86_400_000).toISOString();
  const introduced = await welcomesIntroducedAt(db);
  const since = introduced !== null && introduced > window ? introduced : window;
  const rows = await newsroomDb(db)
    .selectFrom('events as e')
    .innerJoin('subscribers as s', 's.id', 'e.subscriber_id')
    .leftJoin('welcome_mails as w', 'w.subscriber_id', 'e.subscriber_id')
    .select('s.id')
    .distinct()
    .where('e.type', '=', 'confirmed')
    .where('e.created_at', '>=', since)
    .where('s.status', '=', 'active')
    .where('w.subscriber_id', 'is', null)
    .limit(1_000)
    .execute();
  for (const row of rows) await createWelcome(db, row.id, now.toISOString());
  return rows.length;
}

/** When this store gained welcome mails (migration 0008 ran), as an ISO instant. */
async function welcomesIntroducedAt(db: Kysely<Database>): Promise<string | null> {
  const { rows } = await sql<{ timestamp: string | Date }>`
    select timestamp from kysely_migration where name = '0008_newsroom_automation'`.execute(db);
  const at = rows[0]?.timestamp;
  if (at === undefined) return null;
  return new Date(at).toISOString();
}
