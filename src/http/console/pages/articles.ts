// The console's article pages (editor, admin): the list with search, date and topic filters;
// ingest by paste, file upload or URL; one article beside its topics (strength and matched
// terms), the topic override, and delete (refused while a live campaign uses the article).
// Routes are wiring: the list is listArticles (the API's), the ingest is the API's parser and
// store, the URL fetch is the feeds' hardened fetch (src/feeds/article-page.ts).
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { articleAlerter } from '../../../alerts/create.ts';
import type { App } from '../../../app.ts';
import { ArticleInputError } from '../../../articles/errors.ts';
import { articleListQuerySchema, listArticles } from '../../../articles/list.ts';
import { MAX_ARTICLE_BYTES } from '../../../articles/parse.ts';
import { parseArticleOffThread } from '../../../articles/parse-pool.ts';
import {
  getArticle,
  saveArticle,
  setArticleTopics,
  topicsOverridden,
} from '../../../articles/repository.ts';
import { type Article, articleBlocks } from '../../../articles/schema.ts';
import { ArticleInUseError, deleteArticle } from '../../../campaigns/article-delete.ts';
import { liveCampaignsUsingArticle } from '../../../campaigns/repository.ts';
import { fetchArticlePage } from '../../../feeds/article-page.ts';
import { loadCatalogue } from '../../../topics/catalogue.ts';
import { explainTopics } from '../../../topics/match.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import {
  ARTICLE_LIMIT_TEXT,
  articleIdParams,
  displayDate,
  displayDateTime,
  type FieldErrors,
  fieldErrorsOf,
  ingestFailure,
  PASTE_FORMATS,
  pasteFormSchema,
  topicRows,
  topicsFormSchema,
  urlFormSchema,
} from './articles-forms.ts';

/** Body limit of the paste form: the article cap, URL-encoded (up to 3 bytes per byte). */
const PASTE_BODY_LIMIT = MAX_ARTICLE_BYTES * 3 + 64 * 1024;
/** Body limit of the upload: the file cap and the form's few small fields. */
const UPLOAD_BODY_LIMIT = MAX_ARTICLE_BYTES + 64 * 1024;

/** What the ingest page's three forms show: the values given and the errors per field. */
interface IngestForm {
  form: 'paste' | 'upload' | 'url' | null;
  values: { format: string; body: string; url: string };
  errors: FieldErrors;
}

const EMPTY_INGEST: IngestForm = {
  form: null,
  values: { format: 'detect', body: '', url: '' },
  errors: {},
};

/** The uploaded file as the multipart hook leaves it on the body (see onFile below). */
const uploadSchema = z.object({
  file: z
    .object({ filename: z.string(), mimetype: z.string(), data: z.instanceof(Buffer) })
    .optional(),
});

/** A string field of a parsed form, or '' (to show the user's value back). */
function fieldOf(body: unknown, name: string): string {
  if (!body || typeof body !== 'object') return '';
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value.slice(0, MAX_ARTICLE_BYTES) : '';
}

export const articlePages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const alertFor = articleAlerter(app);
  const editor = { onRequest: requireConsole('editor') };

  const renderIngest = (
    request: FastifyRequest,
    reply: FastifyReply,
    form: IngestForm,
    status = 200,
  ) =>
    renderConsolePage(request, reply.status(status), 'articles-new', {
      title: 'Ingest an article',
      active: 'articles',
      ...form,
      formats: Object.entries(PASTE_FORMATS).map(([value, f]) => ({ value, label: f.label })),
      limitText: ARTICLE_LIMIT_TEXT,
    });

  /** Stores a parsed article and sends the editor to it (a new one may trip an alert rule). */
  const store = async (reply: FastifyReply, article: Article, via: string) => {
    const saved = await saveArticle(db, article);
    app.logger.info(
      { articleId: saved.article.id, created: saved.created, via },
      'console.articles.ingested',
    );
    if (saved.created) await alertFor(saved.article);
    return reply.redirect(
      `/console/articles/${saved.article.id}?ingested=${saved.created ? 'new' : 'updated'}`,
      303,
    );
  };

  /** Runs one ingest; an error the editor can fix re-renders its form with the message. */
  const ingest = async (
    request: FastifyRequest,
    reply: FastifyReply,
    form: IngestForm,
    field: string,
    read: () => Promise<Article>,
  ) => {
    try {
      return await store(reply, await read(), form.form ?? 'paste');
    } catch (error) {
      const failure = ingestFailure(error, field);
      if (!failure) throw error;
      app.logger.warn({ form: form.form, field }, 'console.articles.ingest_refused');
      return renderIngest(request, reply, { ...form, errors: failure.errors }, failure.status);
    }
  };

  // A body over a route's limit (413) or a malformed upload: the ingest page, saying why.
  fastify.setErrorHandler(async (error: FastifyError, request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const form = path.endsWith('/upload') ? 'upload' : path.endsWith('/url') ? 'url' : 'paste';
    // busboy's own errors for a broken multipart body carry no status: the client's fault.
    const brokenUpload =
      form === 'upload' &&
      error.statusCode === undefined &&
      /multipart|boundary|Unexpected end/i.test(error.message);
    const status = brokenUpload ? 400 : (error.statusCode ?? 500);
    if (!request.consoleUser || status < 400 || status >= 500) throw error;
    const field = form === 'upload' ? 'file' : form === 'url' ? 'url' : 'body';
    const message =
      status === 413
        ? `too large: the ${form === 'upload' ? 'file' : 'text'} is over the ${ARTICLE_LIMIT_TEXT} limit for an article`
        : `the form could not be read: ${error.message}`;
    return renderIngest(
      request,
      reply,
      { ...EMPTY_INGEST, form, errors: { [field]: message } },
      status,
    );
  });

  fastify.get('/console/articles', editor, async (request, reply) => {
    const catalogue = await loadCatalogue(db);
    const raw = (request.query ?? {}) as Record<string, unknown>;
    // Empty filter fields (a submitted form) mean "no filter".
    const given = Object.fromEntries(
      Object.entries(raw).filter(([, value]) => typeof value === 'string' && value !== ''),
    );
    const parsed = articleListQuerySchema.safeParse(given);
    const page = parsed.success ? await listArticles(db, parsed.data) : { items: [], next: null };
    const filters = {
      q: fieldOf(given, 'q'),
      topic: fieldOf(given, 'topic'),
      from: fieldOf(given, 'from'),
      to: fieldOf(given, 'to'),
    };
    const keep = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
    const nextUrl = page.next
      ? `/console/articles?${new URLSearchParams([...keep, ['cursor', page.next]])}`
      : null;
    const deleted = fieldOf(raw, 'deleted');
    return renderConsolePage(request, reply.status(parsed.success ? 200 : 400), 'articles-list', {
      title: 'Articles',
      active: 'articles',
      filters,
      errors: parsed.success ? {} : fieldErrorsOf(parsed.error),
      items: page.items,
      total: 'total' in page ? page.total : 0,
      nextUrl,
      firstUrl: given.cursor ? `/console/articles?${keep}` : null,
      filtered: keep.size > 0,
      topics: catalogue.map((t) => ({ id: t.id, name: t.name })),
      topicNames: Object.fromEntries(catalogue.map((t) => [t.id, t.name])),
      deleted: /^\d+$/.test(deleted) ? deleted : null,
      date: displayDate,
    });
  });

  fastify.get('/console/articles/new', editor, async (request, reply) =>
    renderIngest(request, reply, EMPTY_INGEST),
  );

  fastify.post(
    '/console/articles/new/paste',
    { ...editor, bodyLimit: PASTE_BODY_LIMIT },
    async (request, reply) => {
      const values = {
        ...EMPTY_INGEST.values,
        format: fieldOf(request.body, 'format') || 'detect',
        body: fieldOf(request.body, 'body'),
      };
      const form: IngestForm = { form: 'paste', values, errors: {} };
      const parsed = pasteFormSchema.safeParse(request.body ?? {});
      if (!parsed.success)
        return renderIngest(request, reply, { ...form, errors: fieldErrorsOf(parsed.error) }, 422);
      const contentType = PASTE_FORMATS[parsed.data.format].contentType;
      return ingest(request, reply, form, 'body', () =>
        parseArticleOffThread({ body: parsed.data.body, ...(contentType ? { contentType } : {}) }),
      );
    },
  );

  fastify.post('/console/articles/new/url', editor, async (request, reply) => {
    const form: IngestForm = {
      form: 'url',
      values: { ...EMPTY_INGEST.values, url: fieldOf(request.body, 'url') },
      errors: {},
    };
    const parsed = urlFormSchema.safeParse(request.body ?? {});
    if (!parsed.success)
      return renderIngest(request, reply, { ...form, errors: fieldErrorsOf(parsed.error) }, 422);
    return ingest(request, reply, form, 'url', () =>
      fetchArticlePage(parsed.data.url, {
        // An editor's URL is the open internet: no private or reserved address but the
        // hosts the operator lists (an intranet CMS).
        privateHosts: app.config.ARTICLE_FETCH_PRIVATE_HOSTS,
        timeoutMs: app.config.FEED_TIMEOUT_MS,
      }),
    );
  });

  // The upload in a scope of its own, so multipart parsing applies to this one route. The
  // parts are read before the CSRF check (it reads `_csrf` from the parsed body), within the
  // caps: one file of at most the parser's limit, a few small fields.
  await fastify.register(async (scope) => {
    await scope.register(multipart, {
      attachFieldsToBody: 'keyValues',
      limits: { fileSize: MAX_ARTICLE_BYTES, files: 1, fields: 4, fieldSize: 1024, parts: 6 },
      async onFile(part: MultipartFile) {
        const data = await part.toBuffer();
        // keyValues keeps a part's `value`: the file with its name and type.
        Object.assign(part, { value: { filename: part.filename, mimetype: part.mimetype, data } });
      },
    });
    scope.post(
      '/console/articles/new/upload',
      { ...editor, bodyLimit: UPLOAD_BODY_LIMIT },
      async (request, reply) => {
        const form: IngestForm = { form: 'upload', values: EMPTY_INGEST.values, errors: {} };
        const parsed = uploadSchema.safeParse(request.body ?? {});
        const file = parsed.success ? parsed.data.file : undefined;
        if (!file || file.data.length === 0 || file.filename === '') {
          const message = file?.filename ? `${file.filename} is empty` : 'choose a file to upload';
          return renderIngest(request, reply, { ...form, errors: { file: message } }, 422);
        }
        return ingest(request, reply, form, 'file', () =>
          parseArticleOffThread({
            body: file.data,
            filename: file.filename,
            // Browsers send application/octet-stream for unknown types: the extension decides.
            ...(file.mimetype && file.mimetype !== 'application/octet-stream'
              ? { contentType: file.mimetype }
              : {}),
          }),
        );
      },
    );
  });

  /** The article page: the article, its topics with strength and terms, override, delete. */
  const renderArticle = async (
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    extra: { status?: number; errors?: FieldErrors; notice?: string | null } = {},
  ) => {
    const article = await getArticle(db, id);
    if (!article) return renderMissing(request, reply, id);
    const [catalogue, overridden, live] = await Promise.all([
      loadCatalogue(db),
      topicsOverridden(db, id),
      liveCampaignsUsingArticle(db, id),
    ]);
    const rows = topicRows(catalogue, article.topics, explainTopics(article, catalogue));
    return renderConsolePage(request, reply.status(extra.status ?? 200), 'articles-detail', {
      title: article.title,
      active: 'articles',
      article,
      blocks: articleBlocks(article),
      tagged: rows.filter((row) => row.tagged),
      rows,
      overridden: overridden === true,
      live,
      errors: extra.errors ?? {},
      notice: extra.notice ?? null,
      dateTime: displayDateTime,
    });
  };

  const renderMissing = (request: FastifyRequest, reply: FastifyReply, id: number | string) =>
    renderConsolePage(request, reply.status(404), 'articles-missing', {
      title: 'Article not found',
      active: 'articles',
      message: `There is no article ${id}: it may have been deleted.`,
    });

  const NOTICES: Record<string, string> = {
    new: 'Article stored. Its topics were tagged by the topic rules; check them below.',
    updated: 'This article was already stored: it has been updated with what you sent.',
    topics: 'Topics saved. Campaigns created from this article use them.',
  };

  fastify.get('/console/articles/:id', editor, async (request, reply) => {
    const params = articleIdParams.safeParse(request.params);
    if (!params.success)
      return renderMissing(request, reply, String((request.params as { id?: unknown }).id ?? ''));
    const query = (request.query ?? {}) as Record<string, unknown>;
    const key = fieldOf(query, 'ingested') || fieldOf(query, 'saved');
    return renderArticle(request, reply, params.data.id, { notice: NOTICES[key] ?? null });
  });

  fastify.post('/console/articles/:id/topics', editor, async (request, reply) => {
    const params = articleIdParams.safeParse(request.params);
    if (!params.success) return renderMissing(request, reply, '?');
    const id = params.data.id;
    const parsed = topicsFormSchema.safeParse(request.body ?? {});
    if (!parsed.success)
      return renderArticle(request, reply, id, {
        status: 422,
        errors: fieldErrorsOf(parsed.error),
      });
    try {
      const updated = await setArticleTopics(db, id, parsed.data.topics);
      if (!updated) return renderMissing(request, reply, id);
      app.logger.info({ articleId: id, topics: updated.topics }, 'console.articles.topics_set');
      return reply.redirect(`/console/articles/${id}?saved=topics`, 303);
    } catch (error) {
      if (!(error instanceof ArticleInputError)) throw error;
      return renderArticle(request, reply, id, { status: 422, errors: { topics: error.message } });
    }
  });

  fastify.post('/console/articles/:id/delete', editor, async (request, reply) => {
    const params = articleIdParams.safeParse(request.params);
    if (!params.success) return renderMissing(request, reply, '?');
    const id = params.data.id;
    try {
      if (!(await deleteArticle(db, id))) return renderMissing(request, reply, id);
    } catch (error) {
      if (!(error instanceof ArticleInUseError)) throw error;
      const which = error.campaigns.map((c) => `campaign ${c.id} (${c.status})`).join(', ');
      return renderArticle(request, reply, id, {
        status: 409,
        errors: {
          delete: `This article cannot be deleted while ${which} uses it: cancel or finish ${error.campaigns.length === 1 ? 'that campaign' : 'those campaigns'} first.`,
        },
      });
    }
    app.logger.info({ articleId: id }, 'console.articles.deleted');
    return reply.redirect(`/console/articles?deleted=${id}`, 303);
  });
};
