// Stores articles and their topics. Re-ingesting an article (same url, or same content)
// updates the stored one instead of adding a duplicate.
import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { z } from 'zod';
import { nowIso } from '../store/db.ts';
import type { ArticleRow, Database } from '../store/schema.ts';
import { type Catalogue, loadCatalogue, unknownTopicIds } from '../topics/catalogue.ts';
import { matchTopics, rankChosenTopics } from '../topics/match.ts';
import { ArticleInputError } from './errors.ts';
import {
  type Article,
  articleBlockSchema,
  articleImageSchema,
  type StoredArticle,
} from './schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** The identity of an article's content: its title and paragraphs, whitespace-normalised. */
export function contentHash(article: Pick<Article, 'title' | 'paragraphs'>): string {
  const text = [article.title, ...article.paragraphs]
    .map((part) => part.replace(/\s+/g, ' ').trim())
    .join('\n');
  return createHash('sha256').update(text).digest('hex');
}

/** Builds the stored article from its row and its topic ids. */
function toStored(row: ArticleRow, topics: string[]): StoredArticle {
  return {
    id: row.id,
    title: row.title,
    ...(row.standfirst ? { standfirst: row.standfirst } : {}),
    paragraphs: JSON.parse(row.paragraphs) as string[],
    ...(row.blocks ? { blocks: articleBlockSchema.array().parse(JSON.parse(row.blocks)) } : {}),
    ...(row.image ? { image: articleImageSchema.parse(JSON.parse(row.image)) } : {}),
    ...(row.source ? { source: row.source } : {}),
    ...(row.byline ? { byline: row.byline } : {}),
    ...(row.url ? { url: row.url } : {}),
    ...(row.published_at ? { publishedAt: row.published_at } : {}),
    topics,
    ...(row.tags ? { tags: z.array(z.string()).parse(JSON.parse(row.tags)) } : {}),
  };
}

/** Topic ids by article id, strongest first, for the articles given. */
async function topicsFor(db: Db, ids: readonly number[]): Promise<Map<number, string[]>> {
  const byArticle = new Map<number, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return byArticle;
  const rows = await db
    .selectFrom('article_topics')
    .select(['article_id', 'topic_id'])
    .where('article_id', 'in', [...ids])
    .orderBy('article_id')
    .orderBy('score', 'desc')
    .orderBy('topic_id')
    .execute();
  for (const row of rows) byArticle.get(row.article_id)?.push(row.topic_id);
  return byArticle;
}

/** Replaces an article's topic rows. */
async function writeTopics(
  db: Db,
  articleId: number,
  topics: ReadonlyArray<{ topicId: string; score: number }>,
): Promise<void> {
  await db.deleteFrom('article_topics').where('article_id', '=', articleId).execute();
  if (topics.length === 0) return;
  await db
    .insertInto('article_topics')
    .values(topics.map((t) => ({ article_id: articleId, topic_id: t.topicId, score: t.score })))
    .execute();
}

/** Throws an ArticleInputError naming the topic ids that are not in the catalogue. */
async function assertKnownTopics(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  const unknown = await unknownTopicIds(db, ids);
  if (unknown.length > 0) {
    throw new ArticleInputError(
      'topics',
      `unknown topic id${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
    );
  }
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * Stores an article with its topics: the ones it brings (chosen by a person: kept on later
 * re-ingests), else an editor's earlier override, else the topic matcher's. Returns the stored
 * article and whether it was new. Throws an ArticleInputError for unknown topic ids.
 */
export async function saveArticle(
  db: Kysely<Database>,
  article: Article,
  catalogue?: Catalogue,
): Promise<{ article: StoredArticle; created: boolean }> {
  if (article.topics.length > 0) await assertKnownTopics(db, article.topics);
  const topicsGiven = article.topics.length > 0;
  const topicCatalogue = catalogue ?? (await loadCatalogue(db));
  // Topics the source chose are kept as chosen, labelled strongest first (a Xi–Putin story
  // leads with Russia-China relations, not with whichever id sorts first).
  const matched = topicsGiven
    ? rankChosenTopics(article, [...new Set(article.topics)], topicCatalogue)
    : matchTopics(article, topicCatalogue);
  const hash = contentHash(article);
  const now = nowIso();
  const fields = {
    url: article.url ?? null,
    content_hash: hash,
    title: article.title,
    standfirst: article.standfirst ?? null,
    paragraphs: JSON.stringify(article.paragraphs),
    blocks: article.blocks && article.blocks.length > 0 ? JSON.stringify(article.blocks) : null,
    tags: article.tags && article.tags.length > 0 ? JSON.stringify(article.tags) : null,
    image: article.image ? JSON.stringify(article.image) : null,
    source: article.source ?? null,
    byline: article.byline ?? null,
    // Stored as UTC ISO text so that dates sort as text on both dialects.
    published_at: article.publishedAt ? new Date(article.publishedAt).toISOString() : null,
    updated_at: now,
  };

  const attempt = () =>
    db.transaction().execute(async (trx) => {
      const byUrl = article.url
        ? await trx
            .selectFrom('articles')
            .selectAll()
            .where('url', '=', article.url)
            .executeTakeFirst()
        : undefined;
      const byHash = await trx
        .selectFrom('articles')
        .selectAll()
        .where('content_hash', '=', hash)
        .executeTakeFirst();
      // The same url wins; if the new content is already stored under another row, that
      // row is the article (its url is taken over only when it has none).
      const existing = byUrl ?? byHash;
      if (byUrl && byHash && byUrl.id !== byHash.id) {
        throw new ArticleInputError(
          'body',
          `this content is already stored as article ${byHash.id}, and the url as article ${byUrl.id}`,
        );
      }
      let id: number;
      let overridden = topicsGiven;
      if (existing) {
        id = existing.id;
        overridden = topicsGiven || existing.topics_overridden === 1;
        await trx
          .updateTable('articles')
          .set({
            ...fields,
            url: existing.url ?? fields.url,
            topics_overridden: overridden ? 1 : 0,
          })
          .where('id', '=', id)
          .execute();
      } else {
        const row = await trx
          .insertInto('articles')
          .values({ ...fields, topics_overridden: overridden ? 1 : 0, created_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        id = row.id;
      }
      // An editor's override survives re-ingest unless the input brings its own topics.
      if (topicsGiven || !overridden) await writeTopics(trx, id, matched);
      const stored = await trx
        .selectFrom('articles')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const topics = (await topicsFor(trx, [id])).get(id) ?? [];
      return { article: toStored(stored, topics), created: !existing };
    });

  try {
    return await attempt();
  } catch (error) {
    // Another process stored the same article between our look-up and insert: update it.
    if (isUniqueViolation(error)) return attempt();
    throw error;
  }
}

/** The stored article with this id, or null. */
export async function getArticle(db: Kysely<Database>, id: number): Promise<StoredArticle | null> {
  const row = await db.selectFrom('articles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  return toStored(row, (await topicsFor(db, [id])).get(id) ?? []);
}

/**
 * An editor's override of an article's topics: replaces them and keeps them across re-ingest.
 * Returns the updated article, or null when there is no such article; throws an
 * ArticleInputError naming unknown topic ids (and then changes nothing).
 */
export async function setArticleTopics(
  db: Kysely<Database>,
  id: number,
  topicIds: readonly string[],
): Promise<StoredArticle | null> {
  const ids = [...new Set(topicIds.map((t) => t.trim()).filter(Boolean))];
  await assertKnownTopics(db, ids);
  const found = await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('articles')
      .set({ topics_overridden: 1, updated_at: nowIso() })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return false;
    // Editor-chosen topics rank in the order given.
    await writeTopics(
      trx,
      id,
      ids.map((topicId, i) => ({ topicId, score: ids.length - i })),
    );
    return true;
  });
  return found ? getArticle(db, id) : null;
}

/**
 * Articles tagged with any of the topics, newest first by publishedAt (created_at when it has
 * none); `since` is inclusive and `until` exclusive, both ISO instants.
 */
export async function listArticlesForTopics(
  db: Kysely<Database>,
  options: { topicIds: string[]; since?: string; until?: string; limit: number },
): Promise<StoredArticle[]> {
  if (options.topicIds.length === 0 || options.limit <= 0) return [];
  const when = sql<string>`coalesce(published_at, created_at)`;
  let query = db
    .selectFrom('articles')
    .selectAll()
    .where('id', 'in', (sub) =>
      sub
        .selectFrom('article_topics')
        .select('article_id')
        .where('topic_id', 'in', options.topicIds),
    );
  if (options.since) query = query.where(when, '>=', new Date(options.since).toISOString());
  if (options.until) query = query.where(when, '<', new Date(options.until).toISOString());
  const rows = await query
    .orderBy(when, 'desc')
    .orderBy('id', 'desc')
    .limit(options.limit)
    .execute();
  const topics = await topicsFor(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => toStored(row, topics.get(row.id) ?? []));
}

/**
 * Whether an editor chose the article's topics (an override, kept across re-ingest), or null
 * when there is no such article.
 */
export async function topicsOverridden(db: Kysely<Database>, id: number): Promise<boolean | null> {
  const row = await db
    .selectFrom('articles')
    .select('topics_overridden')
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? row.topics_overridden === 1 : null;
}
