// The suppression list's key (sha256 of the lower-cased address, as subscribers/identity.ts
// emailHash computes it) as an SQL expression, so audience queries can anti-join suppressions
// inside the database. PostgreSQL has sha256(); SQLite gets it as a function registered on
// each connection (registerSqliteHash, called where the store opens the file).
import { hash } from 'node:crypto';
import type SQLite from 'better-sqlite3';
import { type Expression, type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely';

const SQLITE_SHA256 = 'herald_sha256_hex';

/** Adds the sha256-as-hex function that emailHashSql calls on SQLite. */
export function registerSqliteHash(database: SQLite.Database): void {
  database.function(SQLITE_SHA256, { deterministic: true }, (text: unknown) =>
    typeof text === 'string' ? hash('sha256', text, 'hex') : null,
  );
}

/**
 * SQL for the suppression hash of a stored address. Stored addresses are normalised (trimmed)
 * and ASCII (parseEmail), so SQL lower() lower-cases them exactly as JavaScript does.
 */
export function emailHashSql<DB>(db: Kysely<DB>, email: Expression<string>): RawBuilder<string> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? sql<string>`encode(sha256(convert_to(lower(${email}), 'UTF8')), 'hex')`
    : sql<string>`${sql.raw(SQLITE_SHA256)}(lower(${email}))`;
}
