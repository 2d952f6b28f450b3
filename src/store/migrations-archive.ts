// Migration 0010: the public archive. A campaign carries whether its web version is public
// (default yes: an editor keeps one out with `--no-archive` or `campaign archive ID --off`).
// Kept in its own file so the main migration list only spreads it in.
import type { Kysely, Migration } from 'kysely';

type Db = Kysely<unknown>;

export function archiveMigrations(): Record<string, Migration> {
  return {
    '0010_archive': {
      async up(db: Db) {
        await db.schema
          .alterTable('campaigns')
          .addColumn('archived', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
        // The archive index lists started campaigns newest first, per kind and status.
        await db.schema
          .createIndex('campaigns_archive')
          .on('campaigns')
          .columns(['kind', 'archived', 'started_at'])
          .execute();
      },
    },
  };
}
