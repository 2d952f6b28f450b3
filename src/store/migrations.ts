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
import type { DatabaseTarget } from '../config/index.ts';
import { archiveMigrations } from './migrations-archive.ts';
import { consoleMigrations } from './migrations-console.ts';
import { countsMigrations } from './migrations-counts.ts';
import { engagementMigrations } from './migrations-engagement.ts';
import { newsroomMigrations } from './migrations-newsroom.ts';
import { usersMigrations } from './migrations-users.ts';
import type { Database } from './schema.ts';

type Db = Kysely<unknown>;
// The dialect from the config, not db.ts's alias: db.ts runs these migrations (no import cycle).
type StoreDialect = DatabaseTarget['dialect'];

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
    '0003_article_blocks': {
      async up(db: Db) {
        // The article body as blocks (paragraph, heading, list, quote, image) and the source's
        // own tags, both JSON text; null for articles stored before (read as paragraphs).
        await db.schema.alterTable('articles').addColumn('blocks', 'text').execute();
        await db.schema.alterTable('articles').addColumn('tags', 'text').execute();
      },
    },
    '0004_subscriber_token_key': {
      async up(db: Db) {
        // A random per-subscriber key that link tokens carry (src/tokens/subject.ts). The store
        // fills it on insert, so every writer of subscribers gets one without knowing of it.
        if (dialect === 'postgres') {
          // PostgreSQL evaluates a volatile default once per existing row: the backfill.
          await sql`alter table subscribers add column token_key text not null
            default substr(md5(gen_random_uuid()::text), 1, 16)`.execute(db);
          return;
        }
        // SQLite cannot add a column with an expression default: backfill, then a trigger.
        await db.schema.alterTable('subscribers').addColumn('token_key', 'text').execute();
        await sql`update subscribers set token_key = lower(hex(randomblob(8)))`.execute(db);
        await sql`create trigger subscribers_token_key after insert on subscribers
          when new.token_key is null
          begin
            update subscribers set token_key = lower(hex(randomblob(8))) where id = new.id;
          end`.execute(db);
      },
    },
    '0006_email_identity': {
      async up(db: Db) {
        // Identity becomes case-insensitive in the whole address (src/subscribers/identity.ts):
        // `email` holds the lower-cased normal form, `email_display` the address as typed.
        // PostgreSQL runs each migration in a transaction; on SQLite Kysely does not, so the
        // merge opens one itself (a half-merged store must not be left behind).
        const own = dialect === 'sqlite';
        if (own) await sql`begin`.execute(db);
        try {
          await db.schema.alterTable('subscribers').addColumn('email_display', 'text').execute();
          await mergeCaseDuplicates(db as unknown as Kysely<Database>);
          // Addresses are ASCII (the validator accepts no other), where SQL lower() and JS
          // toLowerCase() agree, so this index also guards writers that forget to normalise.
          await db.schema
            .createIndex('subscribers_email_lower')
            .on('subscribers')
            .unique()
            .expression(sql`lower(email)`)
            .execute();
          if (own) await sql`commit`.execute(db);
        } catch (error) {
          if (own) await sql`rollback`.execute(db);
          throw error;
        }
      },
    },
    '0007_campaign_excerpt': {
      async up(db: Db) {
        // Send the first N paragraphs of each article and a "Continue reading" link (null: all).
        await db.schema
          .alterTable('campaigns')
          .addColumn('excerpt_paragraphs', 'integer')
          .execute();
      },
    },
    ...newsroomMigrations(dialect),
    ...archiveMigrations(),
    ...engagementMigrations(dialect),
    ...usersMigrations(dialect),
    ...consoleMigrations(dialect),
    ...countsMigrations(dialect),
    // Every digest period rewrites each due subscriber's last_digest_at (no index holds it):
    // room left on PostgreSQL's pages lets that update stay on the row's page (a HOT update)
    // instead of writing all nine of the table's index entries again; a 100,000-subscriber tick
    // spent most of its time there. Pages written from now on keep the room (an existing row
    // moves to such a page at its next update). SQLite has no such setting.
    '0015_subscribers_fillfactor': {
      async up(db: Db) {
        if (dialect === 'postgres')
          await sql`alter table subscribers set (fillfactor = 70)`.execute(db);
      },
    },
  };
}

/** Subscriber states from least to most restrictive: a merge keeps the most restrictive. */
const STATUS_RANK: Record<string, number> = {
  pending: 0,
  active: 1,
  unsubscribed: 2,
  bounced: 3,
  complained: 4,
};

/** Ledger states from least to most final: a merged campaign row keeps the most final. */
const DELIVERY_RANK: Record<string, number> = {
  pending: 0,
  sending: 1,
  suppressed: 2,
  failed: 3,
  bounced: 4,
  sent: 5,
};

/**
 * Folds subscribers whose addresses differ only in case into the oldest of them (lowest id),
 * then stores every address in its normal form with the typed form beside it. The survivor
 * gets the most restrictive status, the union of topics, the latest digest mark, and the
 * duplicates' ledger rows and events; where two rows are for the same campaign the survivor
 * keeps the more final one (a sent row stays sent, so nothing goes out twice).
 * Suppression hashes were always of the lower-cased address: they need no change.
 */
export async function mergeCaseDuplicates(db: Kysely<Database>): Promise<void> {
  const rows = await db
    .selectFrom('subscribers')
    .select(['id', 'email', 'status', 'confirmed_at', 'last_digest_at'])
    .orderBy('id')
    .execute();
  const groups = new Map<string, typeof rows>();
  for (const row of rows) {
    const key = row.email.trim().toLowerCase();
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const [survivor, ...duplicates] = group as [(typeof rows)[0], ...typeof rows];
    const strictest = group.reduce((a, b) =>
      (STATUS_RANK[b.status] ?? 0) > (STATUS_RANK[a.status] ?? 0) ? b : a,
    );
    const latest = (values: Array<string | null>) =>
      values
        .filter((v): v is string => v !== null)
        .sort()
        .at(-1) ?? null;
    const earliest = (values: Array<string | null>) =>
      values.filter((v): v is string => v !== null).sort()[0] ?? null;
    const duplicateIds = duplicates.map((d) => d.id);
    await db
      .updateTable('subscribers')
      .set({
        status: strictest.status,
        confirmed_at: earliest(group.map((r) => r.confirmed_at)),
        last_digest_at: latest(group.map((r) => r.last_digest_at)),
      })
      .where('id', '=', survivor.id)
      .execute();

    const follows = await db
      .selectFrom('subscriptions')
      .select(['topic_id', 'created_at'])
      .where('subscriber_id', 'in', duplicateIds)
      .execute();
    if (follows.length > 0) {
      await db
        .insertInto('subscriptions')
        .values(follows.map((f) => ({ ...f, subscriber_id: survivor.id })))
        .onConflict((oc) => oc.columns(['subscriber_id', 'topic_id']).doNothing())
        .execute();
    }

    const kept = new Map(
      (
        await db
          .selectFrom('deliveries')
          .selectAll()
          .where('subscriber_id', '=', survivor.id)
          .execute()
      ).map((row) => [row.campaign_id, row]),
    );
    const moved = await db
      .selectFrom('deliveries')
      .selectAll()
      .where('subscriber_id', 'in', duplicateIds)
      .orderBy('subscriber_id')
      .execute();
    for (const row of moved) {
      const current = kept.get(row.campaign_id);
      if (!current) {
        await db
          .updateTable('deliveries')
          .set({ subscriber_id: survivor.id })
          .where('campaign_id', '=', row.campaign_id)
          .where('subscriber_id', '=', row.subscriber_id)
          .execute();
        kept.set(row.campaign_id, { ...row, subscriber_id: survivor.id });
        continue;
      }
      if ((DELIVERY_RANK[row.status] ?? 0) > (DELIVERY_RANK[current.status] ?? 0)) {
        const { campaign_id: _c, subscriber_id: _s, batch_no: _b, ...outcome } = row;
        await db
          .updateTable('deliveries')
          .set(outcome)
          .where('campaign_id', '=', row.campaign_id)
          .where('subscriber_id', '=', survivor.id)
          .execute();
        kept.set(row.campaign_id, { ...current, ...outcome });
      }
      await db
        .deleteFrom('deliveries')
        .where('campaign_id', '=', row.campaign_id)
        .where('subscriber_id', '=', row.subscriber_id)
        .execute();
    }

    await db
      .updateTable('events')
      .set({ subscriber_id: survivor.id })
      .where('subscriber_id', 'in', duplicateIds)
      .execute();
    await db.deleteFrom('subscriptions').where('subscriber_id', 'in', duplicateIds).execute();
    await db.deleteFrom('subscribers').where('id', 'in', duplicateIds).execute();
  }
  for (const row of rows) {
    const key = row.email.trim().toLowerCase();
    if (key === row.email) continue;
    const survivor = groups.get(key)?.[0];
    if (survivor?.id !== row.id) continue;
    await db
      .updateTable('subscribers')
      .set({ email: key, email_display: row.email })
      .where('id', '=', row.id)
      .execute();
  }
}

class InCodeMigrations implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/**
 * Brings the schema up to date (or up to and including `upTo`, for tests of a migration);
 * returns the names of the migrations it applied.
 */
export async function migrateToLatest(
  store: Kysely<Database>,
  dialect: StoreDialect,
  upTo?: string,
): Promise<string[]> {
  const db = store as unknown as Kysely<unknown>;
  // Kysely looks for its bookkeeping tables across all schemas unless told which one; on
  // PostgreSQL name the current schema so that several Herald schemas can share a database.
  const migrationTableSchema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]
          ?.schema
      : undefined;
  if (upTo === undefined && (await isCurrent(db, dialect, migrationTableSchema))) return [];
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrations(dialect),
    migrationTableSchema,
  });
  const { error, results } =
    upTo === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(upTo);
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`store migration ${failed} failed: ${String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Whether every migration is recorded as applied: one read, where Kysely's migrator (lock
 * table, ordering checks) costs every store open, a one-shot CLI call's included, tens of ms.
 * False when the bookkeeping table is not there yet.
 */
async function isCurrent(
  db: Kysely<unknown>,
  dialect: StoreDialect,
  schema: string | undefined,
): Promise<boolean> {
  const table = schema ? sql.table(`${schema}.kysely_migration`) : sql.table('kysely_migration');
  try {
    const applied = await sql<{ name: string }>`select name from ${table}`.execute(db);
    const names = new Set(applied.rows.map((row) => row.name));
    return migrationNames(dialect).every((name) => names.has(name));
  } catch {
    return false;
  }
}

/** The names of every migration, in the order they run. */
export function migrationNames(dialect: StoreDialect): string[] {
  return Object.keys(migrations(dialect)).sort();
}

/** Brings the schema up to (and including) the named migration: tests of a migration's backfill. */
export async function migrateTo(
  store: Kysely<Database>,
  dialect: StoreDialect,
  name: string,
): Promise<void> {
  const db = store as unknown as Kysely<unknown>;
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
  const { error } = await migrator.migrateTo(name);
  if (error)
    throw new Error(`store migration to ${name} failed: ${String(error)}`, { cause: error });
}

/** Lists applied migrations (for tests and ops). */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
    db,
  );
  return rows.rows.map((r) => r.name);
}
