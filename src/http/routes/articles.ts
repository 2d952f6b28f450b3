// Editor API for articles: ingest (text, Markdown, JSON or HTML body), read, override topics.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { articleAlerter } from '../../alerts/create.ts';
import type { App } from '../../app.ts';
import { ArticleInputError } from '../../articles/errors.ts';
import { acceptedMediaTypes, isAcceptedMediaType } from '../../articles/formats.ts';
import { articleListQuerySchema, articleSummarySchema, listArticles } from '../../articles/list.ts';
import { ArticleParseLimitError, parseArticleOffThread } from '../../articles/parse-pool.ts';
import { getArticle, saveArticle, setArticleTopics } from '../../articles/repository.ts';
import { notFound } from '../../errors/index.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';
import { listPageSchema } from '../openapi.ts';

const idParams = z.object({ id: z.coerce.number().int().positive() });

const topicsBody = z.object({
  topics: z.union([
    z.array(z.string().trim().min(1)),
    // "a;b" as in the CLI.
    z.string().transform((s) =>
      s
        .split(/[;,]/)
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ]),
});

/** A parse stopped at a limit: 422 for the document (time, memory), 429 for a full queue. */
function overLimit(error: ArticleParseLimitError): HttpError {
  return new HttpError(error.limit === 'queue' ? 429 : 422, error.message, [
    { field: 'body', message: error.message },
  ]);
}

/** Decodes a JSON body that arrived as raw bytes, or answers 400. */
function jsonOf(body: unknown): unknown {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  if (text.trim() === '')
    throw new HttpError(400, 'a JSON body is required', [{ field: '(body)', message: 'empty' }]);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not valid JSON', [
      { field: '(body)', message: 'invalid JSON' },
    ]);
  }
}

export async function articleRoutes(server: FastifyInstance, { app }: { app: App }): Promise<void> {
  // Every body reaches the handlers as raw bytes: the article parser picks the format from
  // the Content-Type and reports bad input itself (inside this plugin only).
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  server.addHook('preHandler', requireRole(app.store.db, 'editor'));

  const alertFor = articleAlerter(app);

  server.post(
    '/api/articles',
    {
      schema: {
        summary: 'Ingest an article (text, Markdown, JSON or HTML by Content-Type)',
        consumes: [...acceptedMediaTypes],
        body: z.string().meta({ description: 'the article document, in the Content-Type given' }),
      },
    },
    async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const contentType = request.headers['content-type'];
      if (!isAcceptedMediaType(contentType)) {
        const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
        throw new HttpError(415, `articles come as ${acceptedMediaTypes.join(', ')}`, [
          { field: 'content-type', message: `${mediaType} is not an article format` },
        ]);
      }
      try {
        // Off the event loop, with a time limit: the body is untrusted (issue 11, fault 3).
        const article = await parseArticleOffThread({
          body,
          ...(contentType ? { contentType } : {}),
        });
        const saved = await saveArticle(app.store.db, article);
        app.logger.info(
          { articleId: saved.article.id, created: saved.created, topics: saved.article.topics },
          'articles.ingest.stored',
        );
        // A new article may trip an alert rule, as a feed item does (issue 16). The article is
        // stored either way: a failure here is logged, never a 5xx for the ingest.
        const alert = saved.created ? await alertFor(saved.article) : null;
        return reply
          .status(saved.created ? 201 : 200)
          .send({ ...saved.article, created: saved.created, ...(alert ? { alert } : {}) });
      } catch (error) {
        if (error instanceof ArticleInputError) {
          app.logger.warn({ field: error.field }, 'articles.ingest.failed');
          throw error;
        }
        if (error instanceof ArticleParseLimitError) {
          app.logger.warn({ limit: error.limit }, 'articles.ingest.over_limit');
          throw overLimit(error);
        }
        throw error;
      }
    },
  );

  server.get(
    '/api/articles',
    {
      schema: {
        summary: 'Articles, newest first (editor)',
        querystring: articleListQuerySchema,
        response: { 200: listPageSchema(articleSummarySchema) },
      },
    },
    async (request) =>
      listArticles(app.store.db, parseOr400(articleListQuerySchema, request.query, 'query')),
  );

  server.get('/api/articles/:id', { schema: { params: idParams } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'article id');
    const article = await getArticle(app.store.db, id);
    if (!article) throw notFound('id', `no article ${id}`);
    return article;
  });

  server.patch(
    '/api/articles/:id',
    { schema: { params: idParams, body: topicsBody } },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'article id');
      const { topics } = parseOr400(topicsBody, jsonOf(request.body), 'topics');
      // An unknown topic id is an ArticleInputError: the error handler answers it 400.
      const article = await setArticleTopics(app.store.db, id, topics);
      if (!article) throw notFound('id', `no article ${id}`);
      app.logger.info({ articleId: id, topics: article.topics }, 'articles.topics.overridden');
      return article;
    },
  );
}
