// The console's topic pages (editor, admin): every topic with its followers and recent
// articles (listTopics, the API's), one topic's rules, and "test the rules on this article":
// a stored article or pasted text, run through the matcher and explained, storing nothing.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { articleListQuerySchema, listArticles } from '../../../articles/list.ts';
import { parseArticleOffThread } from '../../../articles/parse-pool.ts';
import { getArticle } from '../../../articles/repository.ts';
import type { Article } from '../../../articles/schema.ts';
import { loadCatalogue, topicIdSchema } from '../../../topics/catalogue.ts';
import { listTopics } from '../../../topics/list.ts';
import { explainTopics, type MatchableText } from '../../../topics/match.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import {
  displayDate,
  type FieldErrors,
  fieldErrorsOf,
  ingestFailure,
  PASTE_FORMATS,
} from './articles-forms.ts';

/** Articles the "pick a stored article" list offers: the newest ones. */
const PICKABLE_ARTICLES = 50;

/** The rule test form: a stored article, or pasted text read as the chosen format. */
const ruleTestSchema = z.discriminatedUnion(
  'source',
  [
    z.object({
      source: z.literal('article'),
      article: z.coerce
        .number({ message: 'pick an article' })
        .int('pick an article')
        .positive('pick an article'),
    }),
    z.object({
      source: z.literal('text'),
      format: z.enum(Object.keys(PASTE_FORMATS) as [keyof typeof PASTE_FORMATS]).default('detect'),
      body: z
        .string({ message: 'paste the article text' })
        .refine((text) => text.trim().length > 0, 'paste the article text'),
    }),
  ],
  { message: 'choose a stored article or pasted text' },
);

const slugParams = z.object({ slug: topicIdSchema.max(100) });

/** A string field of a parsed form, or ''. */
function fieldOf(body: unknown, name: string): string {
  if (!body || typeof body !== 'object') return '';
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

export const topicPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const editor = { onRequest: requireConsole('editor') };

  fastify.get('/console/topics', editor, async (request, reply) => {
    const { items } = await listTopics(db);
    return renderConsolePage(request, reply, 'topics-list', {
      title: 'Topics',
      active: 'topics',
      items,
      totalFollowers: items.reduce((sum, t) => sum + t.followers, 0),
      date: displayDate,
    });
  });

  /** The topic page, with the rule test's form values, errors and result (when run). */
  const renderTopic = async (
    request: FastifyRequest,
    reply: FastifyReply,
    slug: string,
    test: {
      status?: number;
      values?: Record<string, string>;
      errors?: FieldErrors;
      result?: { title: string; article: MatchableText } | null;
    } = {},
  ) => {
    const catalogue = await loadCatalogue(db);
    const topic = catalogue.find((t) => t.id === slug);
    if (!topic) {
      return renderConsolePage(request, reply.status(404), 'articles-missing', {
        title: 'Topic not found',
        active: 'topics',
        message: `There is no topic "${slug}" in the catalogue.`,
        back: { href: '/console/topics', label: 'All topics' },
      });
    }
    const [{ items }, pickable] = await Promise.all([
      listTopics(db),
      listArticles(db, articleListQuerySchema.parse({ limit: PICKABLE_ARTICLES })),
    ]);
    const listed = items.find((t) => t.id === slug);
    const names = Object.fromEntries(catalogue.map((t) => [t.id, t.name]));
    let result = null;
    if (test.result) {
      const explained = explainTopics(test.result.article, catalogue);
      result = {
        title: test.result.title,
        self: explained.find((e) => e.topicId === slug) ?? null,
        tagged: explained
          .filter((e) => e.matched)
          .sort((a, b) => b.strength - a.strength || a.topicId.localeCompare(b.topicId))
          .map((e) => ({ ...e, name: names[e.topicId] ?? e.topicId })),
      };
    }
    return renderConsolePage(request, reply.status(test.status ?? 200), 'topics-detail', {
      title: topic.name,
      active: 'topics',
      topic,
      followers: listed?.followers ?? 0,
      recent: listed?.recentArticles ?? [],
      articles: pickable.items.map((a) => ({ id: a.id, title: a.title })),
      formats: Object.entries(PASTE_FORMATS).map(([value, f]) => ({ value, label: f.label })),
      values: { source: 'article', article: '', format: 'detect', body: '', ...test.values },
      errors: test.errors ?? {},
      result,
      date: displayDate,
    });
  };

  fastify.get('/console/topics/:slug', editor, async (request, reply) => {
    const params = slugParams.safeParse(request.params);
    const slug = params.success
      ? params.data.slug
      : String((request.params as { slug?: unknown }).slug ?? '').slice(0, 100);
    return renderTopic(request, reply, slug);
  });

  // Runs the matcher on the article given and explains it; nothing is stored.
  fastify.post(
    '/console/topics/:slug/test',
    // Pasted text may be as large as an article may be (URL-encoded).
    { ...editor, bodyLimit: 2 * 1024 * 1024 * 3 + 64 * 1024 },
    async (request, reply) => {
      const params = slugParams.safeParse(request.params);
      const slug = params.success ? params.data.slug : '';
      const values = {
        source: fieldOf(request.body, 'source') || 'article',
        article: fieldOf(request.body, 'article'),
        format: fieldOf(request.body, 'format') || 'detect',
        body: fieldOf(request.body, 'body'),
      };
      const parsed = ruleTestSchema.safeParse(request.body ?? {});
      if (!parsed.success) {
        return renderTopic(request, reply, slug, {
          status: 422,
          values,
          errors: fieldErrorsOf(parsed.error),
        });
      }
      const input = parsed.data;
      let article: Article | null;
      if (input.source === 'article') {
        article = await getArticle(db, input.article);
        if (!article) {
          return renderTopic(request, reply, slug, {
            status: 422,
            values,
            errors: { article: `there is no article ${input.article}` },
          });
        }
      } else {
        const contentType = PASTE_FORMATS[input.format].contentType;
        try {
          article = await parseArticleOffThread({
            body: input.body,
            ...(contentType ? { contentType } : {}),
          });
        } catch (error) {
          const failure = ingestFailure(error, 'body');
          if (!failure) throw error;
          return renderTopic(request, reply, slug, {
            status: failure.status,
            values,
            errors: failure.errors,
          });
        }
      }
      return renderTopic(request, reply, slug, {
        values,
        result: { title: article.title, article },
      });
    },
  );
};
