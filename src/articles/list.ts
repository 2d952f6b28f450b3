// The article list behind GET /api/articles and the console's articles page: one zod schema
// for the query, one function for the page, so both show the same rows for the same input.
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { z } from 'zod';
import {
  afterRow,
  countOf,
  cursorSchema,
  type ListPage,
  likeContains,
  limitSchema,
  searchTextSchema,
  toListPage,
} from '../store/paging.ts';
import type { Database } from '../store/schema.ts';
import { topicIdSchema } from '../topics/catalogue.ts';

/** A calendar date (a whole UTC day) or an ISO-8601 instant with its offset. */
const dateOrInstant = (field: 'from' | 'to') =>
  z
    .string()
    .max(40, `${field} is at most 40 characters`)
    .refine(
      (value) => fromInstant(value) !== null,
      `${field} must be an ISO-8601 date (2026-12-01) or instant with offset (2026-12-01T07:00:00Z)`,
    );

/**
 * `q` searches title and standfirst (any case); `topic` keeps articles tagged with it;
 * `from`/`to` bound the published time (the ingest time for articles without one): `from`
 * inclusive, `to` exclusive for an instant and inclusive for a whole day.
 */
export const articleListQuerySchema = z
  .object({
    q: searchTextSchema,
    topic: topicIdSchema.optional(),
    from: dateOrInstant('from').optional(),
    to: dateOrInstant('to').optional(),
    limit: limitSchema,
    cursor: cursorSchema.optional(),
  })
  .superRefine((query, ctx) => {
    const from = query.from ? fromInstant(query.from) : null;
    const to = query.to ? toInstant(query.to) : null;
    if (from && to && from >= to) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be after from' });
    }
  });

export type ArticleListQuery = z.output<typeof articleListQuerySchema>;
export type ArticleListInput = z.input<typeof articleListQuerySchema>;

/** What an article list shows of each article. */
export interface ArticleSummary {
  id: number;
  title: string;
  source: string | null;
  publishedAt: string | null;
  createdAt: string;
  /** Strongest topic first. */
  topics: string[];
}

/** The response shape, for the OpenAPI document. */
export const articleSummarySchema = z.object({
  id: z.number().int(),
  title: z.string(),
  source: z.string().nullable(),
  publishedAt: z.string().nullable(),
  createdAt: z.string(),
  topics: z.array(z.string()),
});

/** The instant a date or date-time names (a date: its UTC midnight), or null if it names none. */
function fromInstant(value: string): string | null {
  const isDate = z.iso.date().safeParse(value).success;
  if (!isDate && !z.iso.datetime({ offset: true }).safeParse(value).success) return null;
  const at = new Date(isDate ? `${value}T00:00:00Z` : value);
  // 2026-02-30 passes the pattern and is no day: Date rolls it over, so compare back.
  if (Number.isNaN(at.getTime())) return null;
  if (isDate && at.toISOString().slice(0, 10) !== value) return null;
  return at.toISOString();
}

/** The first instant `to` no longer admits (a date admits its whole UTC day), or null. */
function toInstant(value: string): string | null {
  const at = fromInstant(value);
  if (at === null || value.length !== 10) return at;
  const next = new Date(at);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString();
}

/** The filters of the query (not the paging) on the articles table. */
function filtered<O>(
  query: SelectQueryBuilder<Database, 'articles', O>,
  filter: ArticleListQuery,
): SelectQueryBuilder<Database, 'articles', O> {
  let q = query;
  if (filter.q) {
    const pattern = likeContains(filter.q.toLowerCase());
    q = q.where((eb) =>
      eb.or([
        eb(sql`lower(articles.title)`, 'like', sql`${pattern} escape '\\'`),
        eb(sql`lower(coalesce(articles.standfirst, ''))`, 'like', sql`${pattern} escape '\\'`),
      ]),
    );
  }
  if (filter.topic) {
    const topic = filter.topic;
    q = q.where('articles.id', 'in', (sub) =>
      sub.selectFrom('article_topics').select('article_id').where('topic_id', '=', topic),
    );
  }
  // Published time, or the ingest time for articles without one (both ISO UTC text).
  const when = sql<string>`coalesce(articles.published_at, articles.created_at)`;
  const from = filter.from ? fromInstant(filter.from) : null;
  const to = filter.to ? toInstant(filter.to) : null;
  if (from) q = q.where(when, '>=', from);
  if (to) q = q.where(when, '<', to);
  return q;
}

/**
 * One page of articles, newest ingested first (created_at, then id), with the count of every
 * article the filters match. `query` is the parsed articleListQuerySchema.
 */
export async function listArticles(
  db: Kysely<Database>,
  query: ArticleListQuery,
): Promise<ListPage<ArticleSummary>> {
  let page = filtered(
    db
      .selectFrom('articles')
      .select([
        'articles.id',
        'articles.title',
        'articles.source',
        'articles.published_at',
        'articles.created_at',
      ]),
    query,
  );
  if (query.cursor) page = page.where(afterRow(query.cursor, 'articles'));
  const rows = await page
    .orderBy('articles.created_at', 'desc')
    .orderBy('articles.id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const counted = await filtered(
    db.selectFrom('articles').select((eb) => eb.fn.countAll().as('n')),
    query,
  ).executeTakeFirstOrThrow();
  const topics = await topicsOfArticles(
    db,
    rows.slice(0, query.limit).map((row) => row.id),
  );
  return {
    ...toListPage(rows, query.limit, (row) => ({
      id: row.id,
      title: row.title,
      source: row.source,
      publishedAt: row.published_at,
      createdAt: row.created_at,
      topics: topics.get(row.id) ?? [],
    })),
    total: countOf(counted.n),
  };
}

/** Each article's topics, strongest first (one query for the page). */
async function topicsOfArticles(
  db: Kysely<Database>,
  articleIds: number[],
): Promise<Map<number, string[]>> {
  const topics = new Map<number, string[]>();
  if (articleIds.length === 0) return topics;
  const tagged = await db
    .selectFrom('article_topics')
    .select(['article_id', 'topic_id'])
    .where('article_id', 'in', articleIds)
    .orderBy('score', 'desc')
    .orderBy('topic_id')
    .execute();
  for (const tag of tagged) {
    const list = topics.get(tag.article_id) ?? [];
    list.push(tag.topic_id);
    topics.set(tag.article_id, list);
  }
  return topics;
}
