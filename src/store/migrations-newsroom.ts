// Migration 0008: newsroom automation (feeds and their seen items, alert rules, the alert
// frequency cap's send record and held-back alerts, welcome mails). Kept in its own file so
// the main migration list only spreads it in.
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';

type Db = Kysely<unknown>;
// The config's dialect, not db.ts's alias: db.ts runs these migrations (no import cycle).
type StoreDialect = DatabaseTarget['dialect'];

export function newsroomMigrations(dialect: StoreDialect): Record<string, Migration> {
  const idType = dialect === 'postgres' ? 'serial' : 'integer';
  const idConstraints = (col: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement();
  return {
    '0008_newsroom_automation': {
      async up(db: Db) {
        await db.schema
          .createTable('feeds')
          .addColumn('id', idType, idConstraints)
          .addColumn('url', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('every_seconds', 'integer', (c) => c.notNull())
          .addColumn('allow_private', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('etag', 'text')
          .addColumn('last_modified', 'text')
          .addColumn('last_polled_at', 'text')
          .addColumn('last_success_at', 'text')
          .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        // One row per feed item ever seen (key: sha256 of its guid, else link, else title), so
        // a restart or a feed that repeats old items never makes a second article.
        await db.schema
          .createTable('feed_items')
          .addColumn('feed_id', 'integer', (c) =>
            c.notNull().references('feeds.id').onDelete('cascade'),
          )
          .addColumn('item_key', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('article_id', 'integer')
          .addColumn('detail', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('feed_items_pk', ['feed_id', 'item_key'])
          .execute();

        await db.schema
          .createTable('alert_rules')
          .addColumn('id', idType, idConstraints)
          .addColumn('topic_id', 'text', (c) => c.notNull())
          .addColumn('min_strength', 'real', (c) => c.notNull().defaultTo(0))
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('hold_seconds', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        // One alert campaign per article, however many rules match it (the primary key is the
        // guard between processes).
        await db.schema
          .createTable('alert_campaigns')
          .addColumn('article_id', 'integer', (c) => c.primaryKey())
          .addColumn('campaign_id', 'integer', (c) => c.notNull().unique())
          .addColumn('rule_id', 'integer', (c) => c.notNull())
          .addColumn('mode', 'text', (c) => c.notNull())
          /** For a hold: when it ends and the alert goes out (unless an editor stopped it). */
          .addColumn('send_at', 'text')
          /** When the hold was scheduled; null while a crash left it unscheduled. */
          .addColumn('placed_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        // Alerts a subscriber was sent (the frequency cap counts these in a rolling 24 h) and
        // alerts held back for them (cap or quiet hours), which their next digest folds in.
        await db.schema
          .createTable('alert_sends')
          .addColumn('subscriber_id', 'integer', (c) => c.notNull())
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('sent_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('alert_sends_pk', ['subscriber_id', 'campaign_id'])
          .execute();
        await db.schema
          .createIndex('alert_sends_subscriber_time')
          .on('alert_sends')
          .columns(['subscriber_id', 'sent_at'])
          .execute();
        await db.schema
          .createTable('alert_held')
          .addColumn('subscriber_id', 'integer', (c) => c.notNull())
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('article_ids', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('alert_held_pk', ['subscriber_id', 'campaign_id'])
          .execute();

        // The welcome mail's campaign per subscriber: at most one, ever.
        await db.schema
          .createTable('welcome_mails')
          .addColumn('subscriber_id', 'integer', (c) => c.primaryKey())
          .addColumn('campaign_id', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}
