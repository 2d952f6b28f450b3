// Versioned schema migrations. Each runs once (Kysely records them in kysely_migration);
// running them again is a no-op. Add new ones at the end; never edit a shipped one.
import {
  type ColumnDefinitionBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  sql,
} from 'kysely';
import type { StoreDialect } from './db.ts';
import { newsroomMigrations } from './migrations-newsroom.ts';
import type { Database } from './schema.ts';

type Db = Kysely<unknown>;

/** An auto-increment integer primary key in either dialect. */
function idColumn(dialect: StoreDialect) {
  return dialect === 'postgres'
    ? (['serial', (col: ColumnDefinitionBuilder) => col.primaryKey()] as const)
    : (['integer', (col: ColumnDefinitionBuilder) => col.primaryKey().autoIncrement()] as const);
}

function migrations(dialect: StoreDialect): Record<string, Migration> {
  const [idType, idConstraints] = idColumn(dialect);
  return {
    '0001_initial': {
      async up(db: Db) {
        await db.schema
          .createTable('topics')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('rules', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('articles')
          .addColumn('id', idType, idConstraints)
          .addColumn('url', 'text', (c) => c.unique())
          .addColumn('content_hash', 'text', (c) => c.notNull().unique())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('standfirst', 'text')
          .addColumn('paragraphs', 'text', (c) => c.notNull())
          .addColumn('image', 'text')
          .addColumn('source', 'text')
          .addColumn('byline', 'text')
          .addColumn('published_at', 'text')
          .addColumn('topics_overridden', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('articles_published_at')
          .on('articles')
          .column('published_at')
          .execute();

        await db.schema
          .createTable('article_topics')
          .addColumn('article_id', 'integer', (c) =>
            c.notNull().references('articles.id').onDelete('cascade'),
          )
          .addColumn('topic_id', 'text', (c) => c.notNull())
          .addColumn('score', 'real', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('article_topics_pk', ['article_id', 'topic_id'])
          .execute();
        await db.schema
          .createIndex('article_topics_topic')
          .on('article_topics')
          .columns(['topic_id', 'article_id'])
          .execute();

        await db.schema
          .createTable('subscribers')
          .addColumn('id', idType, idConstraints)
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull().defaultTo('off'))
          .addColumn('send_hour', 'integer', (c) => c.notNull().defaultTo(7))
          .addColumn('digest_weekday', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
          .addColumn('last_digest_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('confirmed_at', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('subscribers_digest')
          .on('subscribers')
          .columns(['digest', 'status'])
          .execute();

        await db.schema
          .createTable('subscriptions')
          .addColumn('subscriber_id', 'integer', (c) =>
            c.notNull().references('subscribers.id').onDelete('cascade'),
          )
          .addColumn('topic_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('subscriptions_pk', ['subscriber_id', 'topic_id'])
          .execute();
        // The audience query walks a topic's followers in subscriber-id order.
        await db.schema
          .createIndex('subscriptions_topic')
          .on('subscriptions')
          .columns(['topic_id', 'subscriber_id'])
          .execute();

        await db.schema
          .createTable('suppressions')
          .addColumn('id', idType, idConstraints)
          .addColumn('email_hash', 'text', (c) => c.notNull().unique())
          .addColumn('email', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('note', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('campaigns')
          .addColumn('id', idType, idConstraints)
          .addColumn('kind', 'text', (c) => c.notNull().defaultTo('campaign'))
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('template', 'text', (c) => c.notNull())
          .addColumn('article_ids', 'text', (c) => c.notNull())
          .addColumn('audience_topics', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('status_reason', 'text')
          .addColumn('scheduled_at', 'text')
          .addColumn('local_time', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .execute();
        await db.schema.createIndex('campaigns_status').on('campaigns').column('status').execute();

        await db.schema
          .createTable('deliveries')
          .addColumn('campaign_id', 'integer', (c) =>
            c.notNull().references('campaigns.id').onDelete('cascade'),
          )
          .addColumn('subscriber_id', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_reply', 'text')
          .addColumn('due_at', 'text')
          .addColumn('sent_at', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('deliveries_pk', ['campaign_id', 'subscriber_id'])
          .execute();
        // Fan-out and the reconciler page a campaign's unsent rows by subscriber id;
        // status counts group by it.
        await db.schema
          .createIndex('deliveries_campaign_status')
          .on('deliveries')
          .columns(['campaign_id', 'status', 'subscriber_id'])
          .execute();
        await db.schema
          .createIndex('deliveries_subscriber')
          .on('deliveries')
          .column('subscriber_id')
          .execute();

        await db.schema
          .createTable('events')
          .addColumn('id', idType, idConstraints)
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('subscriber_id', 'integer')
          .addColumn('campaign_id', 'integer')
          .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('events_type_created')
          .on('events')
          .columns(['type', 'created_at'])
          .execute();

        await db.schema
          .createTable('api_keys')
          .addColumn('id', idType, idConstraints)
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
      },
    },
    '0002_delivery_batches': {
      async up(db: Db) {
        // Each ledger row belongs to one batch job; a worker claims rows before sending so
        // that two jobs never send the same row, and a crashed job's claim can be taken over.
        await db.schema
          .alterTable('deliveries')
          .addColumn('batch_no', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.alterTable('deliveries').addColumn('claim', 'text').execute();
        await db.schema
          .createIndex('deliveries_campaign_batch')
          .on('deliveries')
          .columns(['campaign_id', 'batch_no', 'status'])
          .execute();
        // Set once the whole audience is in the ledger: only then can a campaign be done.
        await db.schema.alterTable('campaigns').addColumn('prepared_at', 'text').execute();
      },
    },
    ...newsroomMigrations(dialect),
  };
}

class InCodeMigrations implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Brings the schema up to date; returns the names of the migrations it applied. */
export async function migrateToLatest(
  store: Kysely<Database>,
  dialect: StoreDialect,
): Promise<string[]> {
  const db = store as unknown as Kysely<unknown>;
  // Kysely looks for its bookkeeping tables across all schemas unless told which one; on
  // PostgreSQL name the current schema so that several Herald schemas can share a database.
  const migrationTableSchema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]
          ?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrations(dialect),
    migrationTableSchema,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`store migration ${failed} failed: ${String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Lists applied migrations (for tests and ops). */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
    db,
  );
  return rows.rows.map((r) => r.name);
}
