// Keyset paging shared by every list (articles, campaigns, subscribers, keys): newest first by
// (created_at, id), a page of `limit` rows, and an opaque cursor naming the last row shown.
// A keyset cursor stays correct while rows are added (no row is skipped or shown twice) and
// costs the same on page 1 and page 4,000, which an offset does not.
import { type Kysely, PostgresAdapter, type RawBuilder, type SqlBool, sql } from 'kysely';
import { z } from 'zod';

/** Rows a list page holds when the caller does not say. */
export const DEFAULT_PAGE_SIZE = 25;
/** The largest page a caller may ask for. */
export const MAX_PAGE_SIZE = 100;

/** Where a page starts: after the row with this created_at and id (newest-first order). */
export interface PageAfter {
  createdAt: string;
  id: number;
}

/** One page of a list and the cursor of the next (null on the last page). */
export interface ListPage<T> {
  items: T[];
  next: string | null;
  /** Rows matching the filters across all pages (when the list counts them). */
  total?: number;
}

/** The cursor of the row a page ended on: base64url of `[createdAt, id]`. */
export function encodeCursor(after: PageAfter): string {
  return Buffer.from(JSON.stringify([after.createdAt, after.id])).toString('base64url');
}

const cursorShape = z.tuple([
  z.string().min(1).max(64),
  z.number().int().positive().max(2_147_483_647),
]);

/** Reads a cursor back; null when it is not one this module wrote. */
export function decodeCursor(cursor: string): PageAfter | null {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  try {
    const parsed = cursorShape.safeParse(
      JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')),
    );
    return parsed.success ? { createdAt: parsed.data[0], id: parsed.data[1] } : null;
  } catch {
    return null;
  }
}

/** `limit`: a whole number 1..100 (query strings arrive as text), 25 when absent. */
export const limitSchema = z.coerce
  .number({ message: 'limit must be a whole number from 1 to 100' })
  .int('limit must be a whole number from 1 to 100')
  .min(1, 'limit must be at least 1')
  .max(MAX_PAGE_SIZE, `limit must be at most ${MAX_PAGE_SIZE}`)
  .default(DEFAULT_PAGE_SIZE);

/** `cursor`: the `next` of a previous page, decoded; a 400 naming `cursor` otherwise. */
export const cursorSchema = z
  .string()
  .transform((value, ctx) => {
    const after = decodeCursor(value);
    if (!after) {
      ctx.addIssue({
        code: 'custom',
        message: 'cursor must be the `next` value of a previous page of this list',
      });
      return z.NEVER;
    }
    return after;
  })
  .meta({ description: 'the `next` value of the previous page (opaque)' });

/** Optional free-text search: trimmed, at most 200 characters; empty means no search. */
export const searchTextSchema = z
  .string()
  .max(200, 'q is at most 200 characters')
  .transform((value) => value.trim())
  .optional();

/**
 * The keyset condition: rows strictly after `after` in (created_at desc, id desc) order, as a
 * row-value comparison both dialects answer from an index on (created_at, id).
 */
export function afterRow(after: PageAfter, table: string): RawBuilder<SqlBool> {
  const created = sql.ref(`${table}.created_at`);
  const id = sql.ref(`${table}.id`);
  return sql<SqlBool>`(${created}, ${id}) < (${after.createdAt}, ${after.id})`;
}

/**
 * Builds a page from rows read with one row beyond `limit` (its presence says another page
 * follows); the cursor names the last row kept.
 */
export function toListPage<R extends { id: number; created_at: string }, T>(
  rows: R[],
  limit: number,
  map: (row: R) => T,
): ListPage<T> {
  const kept = rows.slice(0, limit);
  const last = kept.at(-1);
  return {
    items: kept.map(map),
    next:
      rows.length > limit && last
        ? encodeCursor({ createdAt: last.created_at, id: last.id })
        : null,
  };
}

/** Whether the store is PostgreSQL (a few index-friendly expressions differ). */
export function isPostgres<DB>(db: Kysely<DB>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Escapes LIKE wildcards so a search text matches itself only (used with `escape '\'`).
 */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The smallest string above every string that starts with `prefix` (in binary order), or null
 * when there is none: `value >= prefix and value < upper` is then a prefix match an index
 * answers as a range.
 */
export function prefixUpperBound(prefix: string): string | null {
  const chars = [...prefix];
  const last = chars.pop();
  if (last === undefined) return null;
  const code = last.codePointAt(0)!;
  if (code >= 0x10ffff || (code >= 0xd7ff && code < 0xe000)) return null;
  return chars.join('') + String.fromCodePoint(code + 1);
}

/** A count that PostgreSQL hands back as a string and SQLite as a number. */
export function countOf(value: unknown): number {
  return Number(value ?? 0);
}
