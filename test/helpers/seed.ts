// Fills a test store quickly: the topic catalogue, the fixture article, many subscribers.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { parseArticle } from '../../src/articles/parse.ts';
import { saveArticle } from '../../src/articles/repository.ts';
import type { StoredArticle } from '../../src/articles/schema.ts';
import { chunk } from '../../src/store/db.ts';
import type { Database, SubscriberStatus } from '../../src/store/schema.ts';
import { ensureCatalogue } from '../../src/topics/catalogue.ts';

export const FIXTURE_PATH = resolve(import.meta.dirname, '../fixtures/articles/lavrov-china.txt');

/** Seeds the topic catalogue and stores the fixture article (tagged by the matcher). */
export async function seedFixtureArticle(db: Kysely<Database>): Promise<StoredArticle> {
  await ensureCatalogue(db);
  const article = parseArticle({ body: readFileSync(FIXTURE_PATH), filename: 'lavrov-china.txt' });
  return (await saveArticle(db, article)).article;
}

export interface SeedSubscriber {
  email: string;
  name?: string;
  topics: string[];
  status?: SubscriberStatus;
  timezone?: string;
}

/** Inserts subscribers and their follows in bulk; returns their ids in order. */
export async function seedSubscribers(
  db: Kysely<Database>,
  subscribers: readonly SeedSubscriber[],
): Promise<number[]> {
  const now = new Date().toISOString();
  const ids: number[] = [];
  for (const part of chunk(subscribers, 500)) {
    const rows = await db
      .insertInto('subscribers')
      .values(
        part.map((s) => ({
          email: s.email,
          name: s.name ?? null,
          status: s.status ?? 'active',
          timezone: s.timezone ?? 'UTC',
          created_at: now,
          confirmed_at: now,
          updated_at: now,
        })),
      )
      .returning('id')
      .execute();
    const follows = part.flatMap((s, i) =>
      s.topics.map((topic_id) => ({ subscriber_id: rows[i]!.id, topic_id, created_at: now })),
    );
    if (follows.length > 0) await db.insertInto('subscriptions').values(follows).execute();
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}
