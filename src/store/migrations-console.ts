// Migrations 0012 and 0013 (console). 0012: indexes for the console's lists (src/*/list.ts). Every list pages newest
// first by (created_at, id) with a keyset cursor, filtered by status on campaigns and
// subscribers; an index in that order makes page 1 and page 4,000 cost the same.
//
// Subscriber search (src/subscribers/list.ts) is an address prefix or a name part:
// - the prefix is a range on the address. SQLite compares text in byte order, so the unique
//   index on `email` serves it; PostgreSQL compares in the database's collation (often en_US,
//   where a range is not a prefix), so the list compares in "C" (byte) order and this adds the
//   matching expression index;
// - a name part (`%text%`) no B-tree serves. On SQLite a narrow covering index on
//   (name, email, created_at, id) lets a search read 100,000 names without touching the wide
//   table rows (measured: 5 ms instead of 42 ms per scan). On PostgreSQL a trigram index
//   (pg_trgm, a "trusted" extension any database owner may create) answers it; where the
//   extension cannot be created the migration goes on without it and searches scan.
import { type Kysely, type Migration, sql } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';

type Db = Kysely<unknown>;

/**
 * The schema pg_trgm lives in, creating it in `public` when absent and allowed; null when it
 * cannot be had. Inside the migration's transaction, a refusal is rolled back to a savepoint.
 */
async function trigramSchema(db: Db): Promise<string | null> {
  const installed = async () =>
    (
      await sql<{ schema: string }>`select n.nspname as schema from pg_extension e
        join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`.execute(db)
    ).rows[0]?.schema ?? null;
  const existing = await installed();
  if (existing) return existing;
  const available = await sql`select 1 from pg_available_extensions where name = 'pg_trgm'`.execute(
    db,
  );
  if (available.rows.length === 0) return null;
  await sql`savepoint herald_trgm`.execute(db);
  try {
    // In public, not the store's schema: dropping one Herald schema must not drop the
    // extension (and with it another schema's index).
    await sql`create extension if not exists pg_trgm with schema public`.execute(db);
    await sql`release savepoint herald_trgm`.execute(db);
  } catch {
    await sql`rollback to savepoint herald_trgm`.execute(db);
    return null;
  }
  return installed();
}

export function consoleMigrations(dialect: DatabaseTarget['dialect']): Record<string, Migration> {
  return {
    '0012_console_indexes': {
      async up(db: Db) {
        const lists = [
          ['articles_created', 'articles', ['created_at', 'id']],
          ['campaigns_created', 'campaigns', ['created_at', 'id']],
          ['campaigns_status_created', 'campaigns', ['status', 'created_at', 'id']],
          ['subscribers_created', 'subscribers', ['created_at', 'id']],
          ['subscribers_status_created', 'subscribers', ['status', 'created_at', 'id']],
          // The digests page groups every active subscriber by zone and schedule: covered by
          // this index, it reads no table rows.
          [
            'subscribers_digest_plan',
            'subscribers',
            ['status', 'timezone', 'digest', 'send_hour', 'digest_weekday'],
          ],
        ] as const;
        for (const [name, table, columns] of lists) {
          await db.schema
            .createIndex(name)
            .on(table)
            .columns([...columns])
            .execute();
        }
        if (dialect === 'sqlite') {
          await db.schema
            .createIndex('subscribers_search')
            .on('subscribers')
            .columns(['name', 'email', 'created_at', 'id'])
            .execute();
          return;
        }
        await db.schema
          .createIndex('subscribers_email_bytes')
          .on('subscribers')
          .expression(sql`email collate "C"`)
          .execute();
        const trigram = await trigramSchema(db);
        if (trigram) {
          await sql`create index subscribers_name_trigram on subscribers
            using gin (lower(name) ${sql.id(trigram)}.gin_trgm_ops)`.execute(db);
        }
      },
    },
    // The campaign's preheader (the inbox preview line after the subject): editors set it in
    // the console; null keeps the default (the first article's standfirst or lead).
    '0013_campaign_preheader': {
      async up(db: Db) {
        await db.schema.alterTable('campaigns').addColumn('preheader', 'text').execute();
      },
    },
  };
}
