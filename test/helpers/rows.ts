// Bare store rows for tests that need a topic or a campaign to exist, nothing more.
import type { Insertable, Kysely } from 'kysely';
import type { CampaignTable, Database } from '../../src/store/schema.ts';

/**
 * Inserts topics by id (display name = id) or as [id, name] pairs, with no matching rules; an
 * id the store already holds (the catalogue is seeded when a store opens) is left as it is.
 */
export async function insertTopics(
  db: Kysely<Database>,
  topics: ReadonlyArray<string | readonly [string, string]>,
): Promise<void> {
  const now = new Date().toISOString();
  await db
    .insertInto('topics')
    .values(
      topics.map((topic) => {
        const [id, name] = typeof topic === 'string' ? [topic, topic] : topic;
        return { id, name, description: '', rules: '{}', created_at: now, updated_at: now };
      }),
    )
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** Inserts a campaign row (a draft alert with no articles unless told otherwise); returns its id. */
export async function insertCampaign(
  db: Kysely<Database>,
  values: Partial<Insertable<CampaignTable>> = {},
): Promise<number> {
  const now = new Date().toISOString();
  const row = await db
    .insertInto('campaigns')
    .values({
      subject: 's',
      template: 'alert',
      article_ids: '[]',
      audience_topics: '[]',
      status: 'draft',
      created_at: now,
      updated_at: now,
      ...values,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
