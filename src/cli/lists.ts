// Store reads and the one delete behind the CLI's round-2 list commands that have no home in a
// domain module yet (articles and API keys); campaigns and subscribers list from their own
// repositories.
import type { Kysely } from 'kysely';
import type { ApiRole, Database } from '../store/schema.ts';

/** What an article list shows of each article. */
export interface ArticleSummary {
  id: number;
  title: string;
  topics: string[];
  source: string | null;
  publishedAt: string | null;
  createdAt: string;
}

/** Articles newest first, `limit` + 1 of them after the article `after` (null: the newest). */
export async function listArticles(
  db: Kysely<Database>,
  page: { limit: number; after: number | null },
): Promise<ArticleSummary[]> {
  let query = db
    .selectFrom('articles')
    .select(['id', 'title', 'source', 'published_at', 'created_at']);
  if (page.after !== null) query = query.where('id', '<', page.after);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
  if (rows.length === 0) return [];
  // Strongest topic first, as the article itself lists them.
  const tagged = await db
    .selectFrom('article_topics')
    .select(['article_id', 'topic_id'])
    .where(
      'article_id',
      'in',
      rows.map((row) => row.id),
    )
    .orderBy('score', 'desc')
    .orderBy('topic_id')
    .execute();
  const topics = new Map<number, string[]>();
  for (const tag of tagged) {
    const list = topics.get(tag.article_id) ?? [];
    list.push(tag.topic_id);
    topics.set(tag.article_id, list);
  }
  return rows.map((row) => ({
    id: row.id,
    title: row.title,
    topics: topics.get(row.id) ?? [],
    source: row.source,
    publishedAt: row.published_at,
    createdAt: row.created_at,
  }));
}

// The delete rule lives with the campaigns that may still need the article.
export { ArticleInUseError, deleteArticle } from '../campaigns/article-delete.ts';

/** What a key list shows: never the key, nor its hash. */
export interface ApiKeySummary {
  id: number;
  role: ApiRole;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** API keys in id order, `limit` + 1 of them after the key `after`. */
export async function listApiKeys(
  db: Kysely<Database>,
  page: { limit: number; after: number | null },
): Promise<ApiKeySummary[]> {
  let query = db.selectFrom('api_keys').select(['id', 'role', 'label', 'created_at', 'revoked_at']);
  if (page.after !== null) query = query.where('id', '>', page.after);
  const rows = await query
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    role: row.role,
    label: row.label,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  }));
}
