// Opens the SQL store (SQLite by default, PostgreSQL at scale) behind one Kysely interface.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';
import { registerSqliteHash } from './email-hash-sql.ts';
import { migrateToLatest } from './migrations.ts';
import { OwnSchemaPostgresDialect } from './pg-introspector.ts';
import type { Database } from './schema.ts';

export type StoreDialect = DatabaseTarget['dialect'];

export interface Store {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /** Answers when the store can run a query; throws otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Run the migrations (default true). */
  migrate?: boolean;
  poolSize?: number;
  /**
   * Rows a migrated store must hold, written after the migrations. Passed in by the caller
   * (src/topics/store.ts passes the topic catalogue) so the store depends on no domain folder.
   */
  seed?: (db: Kysely<Database>) => Promise<void>;
}

/**
 * Opens the store and brings its schema up to date, then runs `seed` (only when migrating).
 * Processes and tests open it through openHeraldStore (src/topics/store.ts), which seeds the
 * topic catalogue.
 */
export async function openStore(
  target: DatabaseTarget,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const db = await createKysely(target, options.poolSize ?? 10);
  const store: Store = {
    db,
    dialect: target.dialect,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
  if (options.migrate !== false) {
    try {
      await migrateToLatest(db, target.dialect);
      await options.seed?.(db);
    } catch (error) {
      await db.destroy();
      throw error;
    }
  }
  return store;
}

async function createKysely(target: DatabaseTarget, poolSize: number): Promise<Kysely<Database>> {
  if (target.dialect === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true });
    const database = new SQLite(target.path);
    // WAL lets readers run beside the one writer; NORMAL is durable across process crashes.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    // Several Herald processes may share the file: wait for the writer rather than fail.
    database.pragma('busy_timeout = 10000');
    registerSqliteHash(database);
    return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  }
  // pg loads only for PostgreSQL: a SQLite CLI call should not pay for it.
  const { default: pg } = await import('pg');
  // COUNT(*) and BIGINT come back from pg as strings; every count we keep fits a JS number.
  pg.types.setTypeParser(20, (value) => Number.parseInt(value, 10));
  const pool = new pg.Pool({ connectionString: target.url, max: poolSize });
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }) });
}

/** Splits rows into chunks small enough for one statement on either dialect. */
export function chunk<T>(rows: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** Now as the ISO-8601 UTC text the store keeps. */
export function nowIso(clock: () => Date = () => new Date()): string {
  return clock().toISOString();
}
