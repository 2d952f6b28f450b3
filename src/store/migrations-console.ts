// Migration 0012: indexes for the console's lists (src/*/list.ts). Every list pages newest
// first by (created_at, id) with a keyset cursor, filtered by status on campaigns and
// subscribers; an index in that order makes page 1 and page 4,000 cost the same. Subscriber
// search by address prefix is a range on the address: SQLite compares text in byte order with
// its default collation, so the unique index on `email` serves it; PostgreSQL compares in the
// database's collation (often en_US, where a range is not a prefix), so the list compares in
// "C" (byte) order and this adds the matching expression index.
import { type Kysely, type Migration, sql } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';

type Db = Kysely<unknown>;

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
        ] as const;
        for (const [name, table, columns] of lists) {
          await db.schema
            .createIndex(name)
            .on(table)
            .columns([...columns])
            .execute();
        }
        if (dialect === 'postgres') {
          await db.schema
            .createIndex('subscribers_email_bytes')
            .on('subscribers')
            .expression(sql`email collate "C"`)
            .execute();
        }
      },
    },
  };
}
