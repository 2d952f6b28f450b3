// The subscriber list behind GET /api/subscribers and the console's subscribers page: one zod
// schema for the query, one function for the page.
//
// Search (`q`) works as people expect of an address book: the address matches when it starts
// with the text (so the whole address finds exactly that subscriber), in any letter case —
// addresses are stored in their lower-cased normal form (identity.ts), so the text is
// lower-cased the same way and compared as a range an index answers; a name matches when it
// contains the text, in any case. Text with an `@` in it is an address only.
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import { z } from 'zod';
import {
  afterRow,
  countOf,
  cursorSchema,
  isPostgres,
  type ListPage,
  likeContains,
  limitSchema,
  prefixUpperBound,
  searchTextSchema,
  toListPage,
} from '../store/paging.ts';
import type { Database, DigestFrequency, SubscriberStatus } from '../store/schema.ts';
import { topicIdSchema } from '../topics/catalogue.ts';
import { emailKey } from './identity.ts';
import { digestFrequencies, subscriberStatuses, topicsOfSubscribers } from './repository.ts';

/** `q` email prefix or name; `status` and `topic` filter exactly. */
export const subscriberListQuerySchema = z.object({
  q: searchTextSchema,
  status: z
    .enum(subscriberStatuses, {
      message: `status must be one of ${subscriberStatuses.join(', ')}`,
    })
    .optional(),
  topic: topicIdSchema.optional(),
  limit: limitSchema,
  cursor: cursorSchema.optional(),
});

export type SubscriberListQuery = z.output<typeof subscriberListQuerySchema>;
export type SubscriberListInput = z.input<typeof subscriberListQuerySchema>;

/** What a subscriber list shows of each subscriber. */
export interface SubscriberListItem {
  id: number;
  /** The address as typed (identity is its lower-cased form). */
  email: string;
  name: string | null;
  status: SubscriberStatus;
  topics: string[];
  timezone: string;
  digest: DigestFrequency;
  createdAt: string;
}

/** The response item shape, for the OpenAPI document. */
export const subscriberListItemSchema = z.object({
  id: z.number().int(),
  email: z.string(),
  name: z.string().nullable(),
  status: z.enum(subscriberStatuses),
  topics: z.array(z.string()),
  timezone: z.string(),
  digest: z.enum(digestFrequencies),
  createdAt: z.string(),
});

/**
 * A search reads the page in index order (newest first, stopping after a page) when matches
 * are dense; when at most this many rows match, it reads their keys from the search indexes
 * and sorts them instead, which beats walking 100,000 rows for a rare name.
 */
const SPARSE_MATCHES = 2_000;

/** The text, status and topic conditions on `subscribers` (the topic as EXISTS). */
function conditions(
  db: Kysely<Database>,
  filter: SubscriberListQuery,
  topicTest: 'exists' | 'joined',
) {
  const postgres = isPostgres(db);
  return (eb: ExpressionBuilder<Database, 'subscribers'>) => {
    const all: Expression<SqlBool>[] = [];
    if (filter.q) {
      const text = emailKey(filter.q);
      const upper = prefixUpperBound(text);
      // PostgreSQL compares in the database's collation unless told: "C" is byte order, the
      // order of the index on (email collate "C") that migration 0012 adds.
      const email = postgres ? sql`subscribers.email collate "C"` : sql`subscribers.email`;
      const startsWith =
        upper === null
          ? eb(email, '=', text)
          : eb.and([eb(email, '>=', text), eb(email, '<', upper)]);
      if (text.includes('@')) all.push(startsWith);
      else {
        // SQLite's LIKE ignores ASCII case by itself; PostgreSQL's trigram index is on lower(name).
        const name = postgres ? sql`lower(subscribers.name)` : sql`subscribers.name`;
        all.push(eb.or([startsWith, eb(name, 'like', sql`${likeContains(text)} escape '\\'`)]));
      }
    }
    if (filter.status) all.push(eb('subscribers.status', '=', filter.status));
    if (filter.topic && topicTest === 'exists') {
      const topic = filter.topic;
      all.push(
        eb.exists(
          eb
            .selectFrom('subscriptions')
            .select(sql.lit(1).as('one'))
            .whereRef('subscriptions.subscriber_id', '=', 'subscribers.id')
            .where('subscriptions.topic_id', '=', topic),
        ),
      );
    }
    return eb.and(all);
  };
}

/** How many subscribers match: a topic is counted from its followers' side (its index). */
async function countMatching(db: Kysely<Database>, filter: SubscriberListQuery): Promise<number> {
  if (filter.topic && !filter.q && !filter.status) {
    // Every follow has its subscriber (a foreign key, deleted with them): the index alone.
    const row = await db
      .selectFrom('subscriptions')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('topic_id', '=', filter.topic)
      .executeTakeFirstOrThrow();
    return countOf(row.n);
  }
  if (filter.topic) {
    const row = await db
      .selectFrom('subscriptions')
      .innerJoin('subscribers', 'subscribers.id', 'subscriptions.subscriber_id')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('subscriptions.topic_id', '=', filter.topic)
      .where(conditions(db, filter, 'joined'))
      .executeTakeFirstOrThrow();
    return countOf(row.n);
  }
  const row = await db
    .selectFrom('subscribers')
    .select((eb) => eb.fn.countAll().as('n'))
    .where(conditions(db, filter, 'exists'))
    .executeTakeFirstOrThrow();
  return countOf(row.n);
}

/** The columns a list row shows. */
const LIST_COLUMNS = [
  'subscribers.id',
  'subscribers.email',
  'subscribers.email_display',
  'subscribers.name',
  'subscribers.status',
  'subscribers.timezone',
  'subscribers.digest',
  'subscribers.created_at',
] as const;

/**
 * The keys (id, created_at) of every row a search matches, when there are at most
 * SPARSE_MATCHES of them; null when there are more. Reads only what the search index holds (on
 * SQLite a covering scan of the narrow index, on PostgreSQL the trigram and address indexes),
 * and stops after SPARSE_MATCHES + 1 rows, so a common text costs little here too.
 */
async function sparseMatches(
  db: Kysely<Database>,
  query: SubscriberListQuery,
): Promise<Array<{ id: number; created_at: string }> | null> {
  const rows = await db
    .selectFrom('subscribers')
    .select(['subscribers.id', 'subscribers.created_at'])
    .where(conditions(db, query, 'exists'))
    .limit(SPARSE_MATCHES + 1)
    .execute();
  return rows.length > SPARSE_MATCHES ? null : rows;
}

/**
 * One page of subscribers, newest first (created_at, then id), with their topics and the count
 * of every subscriber the filters match. `query` is the parsed subscriberListQuerySchema.
 *
 * A search whose matches are rare is answered from their keys (sparseMatches): sorted here,
 * then the page's rows read by id. Otherwise matches are dense enough that reading rows newest
 * first stops after a page, and the count is its own query.
 */
export async function listSubscribers(
  db: Kysely<Database>,
  query: SubscriberListQuery,
): Promise<ListPage<SubscriberListItem>> {
  const sparse = query.q ? await sparseMatches(db, query) : null;
  let total: number;
  let rows: Array<{
    id: number;
    email: string;
    email_display: string | null;
    name: string | null;
    status: SubscriberStatus;
    timezone: string;
    digest: DigestFrequency;
    created_at: string;
  }>;
  if (sparse) {
    total = sparse.length;
    const after = query.cursor;
    const keys = sparse
      .filter(
        (row) =>
          !after ||
          row.created_at < after.createdAt ||
          (row.created_at === after.createdAt && row.id < after.id),
      )
      .sort((a, b) =>
        a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : b.id - a.id,
      )
      .slice(0, query.limit + 1);
    const found =
      keys.length === 0
        ? []
        : await db
            .selectFrom('subscribers')
            .select([...LIST_COLUMNS])
            .where(
              'subscribers.id',
              'in',
              keys.map((key) => key.id),
            )
            .execute();
    const byId = new Map(found.map((row) => [row.id, row]));
    rows = keys.flatMap((key) => byId.get(key.id) ?? []);
  } else {
    total = await countMatching(db, query);
    let page = db
      .selectFrom('subscribers')
      .select([...LIST_COLUMNS])
      .where(conditions(db, query, 'exists'));
    if (query.cursor) page = page.where(afterRow(query.cursor, 'subscribers'));
    rows =
      total === 0
        ? []
        : await page
            .orderBy('subscribers.created_at', 'desc')
            .orderBy('subscribers.id', 'desc')
            .limit(query.limit + 1)
            .execute();
  }
  const topics = await topicsOfSubscribers(
    db,
    rows.slice(0, query.limit).map((row) => row.id),
  );
  return {
    ...toListPage(rows, query.limit, (row) => ({
      id: row.id,
      email: row.email_display ?? row.email,
      name: row.name,
      status: row.status,
      topics: topics.get(row.id) ?? [],
      timezone: row.timezone,
      digest: row.digest,
      createdAt: row.created_at,
    })),
    total,
  };
}

/** Rows read per query while exporting a filtered list. */
const EXPORT_PAGE = 1_000;

/**
 * Every subscriber the list filters match (`q`, `status`, `topic`; limit and cursor ignored),
 * in the list's order, read a page at a time by keyset: the export of "what I am looking at".
 */
export async function* subscribersMatching(
  db: Kysely<Database>,
  filter: SubscriberListQuery,
): AsyncGenerator<SubscriberListItem> {
  let cursor: SubscriberListQuery['cursor'];
  for (;;) {
    // No count per page: the export needs the rows only.
    let page = db
      .selectFrom('subscribers')
      .select([
        'subscribers.id',
        'subscribers.email',
        'subscribers.email_display',
        'subscribers.name',
        'subscribers.status',
        'subscribers.timezone',
        'subscribers.digest',
        'subscribers.created_at',
      ])
      .where(conditions(db, filter, 'exists'));
    if (cursor) page = page.where(afterRow(cursor, 'subscribers'));
    const rows = await page
      .orderBy('subscribers.created_at', 'desc')
      .orderBy('subscribers.id', 'desc')
      .limit(EXPORT_PAGE)
      .execute();
    if (rows.length === 0) return;
    const topics = await topicsOfSubscribers(
      db,
      rows.map((row) => row.id),
    );
    for (const row of rows) {
      yield {
        id: row.id,
        email: row.email_display ?? row.email,
        name: row.name,
        status: row.status,
        topics: topics.get(row.id) ?? [],
        timezone: row.timezone,
        digest: row.digest,
        createdAt: row.created_at,
      };
    }
    if (rows.length < EXPORT_PAGE) return;
    const last = rows[rows.length - 1]!;
    cursor = { createdAt: last.created_at, id: last.id };
  }
}

/** The columns of a filtered export, in order (the import's columns first). */
export const LIST_EXPORT_COLUMNS = [
  'email',
  'name',
  'topics',
  'timezone',
  'digest',
  'status',
  'created_at',
] as const;

/**
 * The filtered list as a stream of CSV (import columns first; a cell starting with = + - @,
 * tab or CR is prefixed with ' so a spreadsheet keeps it as text) or of one JSON array.
 */
export function exportSubscriberList(
  db: Kysely<Database>,
  filter: SubscriberListQuery,
  format: 'csv' | 'json',
): { stream: Readable; mediaType: string; filename: string } {
  if (format === 'json') {
    return {
      stream: Readable.from(
        (async function* () {
          let first = true;
          yield '[';
          for await (const item of subscribersMatching(db, filter)) {
            yield `${first ? '\n' : ',\n'}${JSON.stringify(item)}`;
            first = false;
          }
          yield first ? ']\n' : '\n]\n';
        })(),
      ),
      mediaType: 'application/json; charset=utf-8',
      filename: 'subscribers.json',
    };
  }
  const records = Readable.from(
    (async function* () {
      for await (const item of subscribersMatching(db, filter)) {
        yield {
          email: item.email,
          name: item.name ?? '',
          topics: item.topics.join(';'),
          timezone: item.timezone,
          digest: item.digest,
          status: item.status,
          created_at: item.createdAt,
        };
      }
    })(),
  );
  return {
    stream: records.pipe(
      stringify({ header: true, escape_formulas: true, columns: [...LIST_EXPORT_COLUMNS] }),
    ),
    mediaType: 'text/csv; charset=utf-8',
    filename: 'subscribers.csv',
  };
}
