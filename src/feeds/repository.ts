// Feeds in the store: add, list, remove, and the record of items already turned into articles.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { InputError, kindOfStatus } from '../errors/index.ts';
import { nowIso } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { type FeedItemStatus, newsroomDb } from '../store/schema-newsroom.ts';
import { checkTarget, FetchError } from './fetch.ts';

/** A request about feeds that names a bad field; callers answer 4xx / exit 2. */
export class FeedInputError extends InputError {
  constructor(
    field: string,
    message: string,
    /** The status it was raised with (its kind follows from it); kept for callers reading it. */
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(kindOfStatus(status), field, message);
    this.name = 'FeedInputError';
  }
}

export const MIN_EVERY_SECONDS = 10;
export const MAX_EVERY_SECONDS = 7 * 24 * 3600;

/** "90s", "5m", "2h", "1d" (or plain seconds) to seconds. */
export function parseInterval(value: string): number | null {
  const match = /^(\d{1,7})\s*(s|m|h|d)?$/i.exec(value.trim());
  if (!match) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's').toLowerCase() as 's'];
  return Number(match[1]) * unit;
}

export const feedInputSchema = z.object({
  url: z.string().trim().min(1, 'a feed URL is required').max(2048, 'at most 2048 characters'),
  name: z.string().trim().min(1).max(200, 'at most 200 characters').optional(),
  every: z
    .union([z.string(), z.number().int().positive()])
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return 300;
      const seconds = typeof value === 'number' ? value : parseInterval(value);
      if (seconds === null) {
        ctx.addIssue({ code: 'custom', message: 'an interval such as 90s, 5m or 1h' });
        return z.NEVER;
      }
      if (seconds < MIN_EVERY_SECONDS || seconds > MAX_EVERY_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          message: `between ${MIN_EVERY_SECONDS}s and ${MAX_EVERY_SECONDS / 86_400}d`,
        });
        return z.NEVER;
      }
      return seconds;
    }),
  allowPrivate: z.boolean().default(false),
});
export type FeedInput = z.input<typeof feedInputSchema>;

export interface Feed {
  id: number;
  url: string;
  name: string;
  everySeconds: number;
  allowPrivate: boolean;
  etag: string | null;
  lastModified: string | null;
  lastPolledAt: string | null;
  lastSuccessAt: string | null;
  failures: number;
  lastError: string | null;
  /** True once `failures` reaches FEED_FAILING_AFTER. */
  failing: boolean;
  createdAt: string;
}

type FeedRow = Awaited<ReturnType<typeof selectFeeds>>[number];

function selectFeeds(db: Kysely<Database>) {
  return newsroomDb(db).selectFrom('feeds').selectAll().orderBy('id').execute();
}

function toFeed(row: FeedRow, failingAfter: number): Feed {
  return {
    id: row.id,
    url: row.url,
    name: row.name,
    everySeconds: row.every_seconds,
    allowPrivate: row.allow_private === 1,
    etag: row.etag,
    lastModified: row.last_modified,
    lastPolledAt: row.last_polled_at,
    lastSuccessAt: row.last_success_at,
    failures: row.failures,
    lastError: row.last_error,
    failing: row.failures >= failingAfter,
    createdAt: row.created_at,
  };
}

/** Validates and stores a feed; refuses a URL that is not http(s) or (unless allowed) private. */
export async function addFeed(
  db: Kysely<Database>,
  input: FeedInput,
  failingAfter: number,
  now: string = nowIso(),
): Promise<Feed> {
  const parsed = feedInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || 'url';
    throw new FeedInputError(field, `${field}: ${issue.message}`);
  }
  const valid = parsed.data;
  let url: URL;
  try {
    url = checkTarget(valid.url, valid.allowPrivate);
  } catch (error) {
    if (error instanceof FetchError) throw new FeedInputError('url', `url: ${error.message}`);
    throw error;
  }
  const existing = await newsroomDb(db)
    .selectFrom('feeds')
    .select('id')
    .where('url', '=', url.toString())
    .executeTakeFirst();
  if (existing) {
    throw new FeedInputError('url', `url: already added as feed ${existing.id}`, 409);
  }
  const row = await newsroomDb(db)
    .insertInto('feeds')
    .values({
      url: url.toString(),
      name: valid.name ?? url.hostname,
      every_seconds: valid.every,
      allow_private: valid.allowPrivate ? 1 : 0,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toFeed(row, failingAfter);
}

export async function listFeeds(db: Kysely<Database>, failingAfter: number): Promise<Feed[]> {
  return (await selectFeeds(db)).map((row) => toFeed(row, failingAfter));
}

export async function getFeed(
  db: Kysely<Database>,
  id: number,
  failingAfter: number,
): Promise<Feed | null> {
  const row = await newsroomDb(db)
    .selectFrom('feeds')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toFeed(row, failingAfter) : null;
}

/** Removes a feed and its item record; returns whether it existed. Its articles stay. */
export async function removeFeed(db: Kysely<Database>, id: number): Promise<boolean> {
  const ndb = newsroomDb(db);
  await ndb.deleteFrom('feed_items').where('feed_id', '=', id).execute();
  const result = await ndb.deleteFrom('feeds').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Which of these item keys the feed has already handled. */
export async function seenItemKeys(
  db: Kysely<Database>,
  feedId: number,
  keys: readonly string[],
): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const seen = new Set<string>();
  // Bounded statement size on both dialects.
  for (let i = 0; i < keys.length; i += 500) {
    const rows = await newsroomDb(db)
      .selectFrom('feed_items')
      .select('item_key')
      .where('feed_id', '=', feedId)
      .where('item_key', 'in', keys.slice(i, i + 500))
      .execute();
    for (const row of rows) seen.add(row.item_key);
  }
  return seen;
}

/** Records an item as handled (a second writer for the same key changes nothing). */
export async function recordItem(
  db: Kysely<Database>,
  feedId: number,
  key: string,
  status: FeedItemStatus,
  articleId: number | null,
  detail: string | null,
  now: string = nowIso(),
): Promise<void> {
  await newsroomDb(db)
    .insertInto('feed_items')
    .values({
      feed_id: feedId,
      item_key: key,
      status,
      article_id: articleId,
      detail,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(['feed_id', 'item_key']).doNothing())
    .execute();
}

/** After a poll: validators and success, or one more failure with its reason. */
export async function markPolled(
  db: Kysely<Database>,
  feedId: number,
  outcome:
    | { ok: true; etag?: string | null; lastModified?: string | null }
    | { ok: false; error: string },
  now: string = nowIso(),
): Promise<void> {
  const ndb = newsroomDb(db);
  if (outcome.ok) {
    await ndb
      .updateTable('feeds')
      .set({
        last_polled_at: now,
        last_success_at: now,
        failures: 0,
        last_error: null,
        updated_at: now,
        ...(outcome.etag !== undefined ? { etag: outcome.etag } : {}),
        ...(outcome.lastModified !== undefined ? { last_modified: outcome.lastModified } : {}),
      })
      .where('id', '=', feedId)
      .execute();
    return;
  }
  await ndb
    .updateTable('feeds')
    .set((eb) => ({
      last_polled_at: now,
      failures: eb('failures', '+', 1),
      last_error: outcome.error.slice(0, 500),
      updated_at: now,
    }))
    .where('id', '=', feedId)
    .execute();
}
