// The one Article shape every parser produces and every later stage consumes.
import { z } from 'zod';

export const articleImageSchema = z.object({
  alt: z.string().min(1).optional(),
  caption: z.string().min(1).optional(),
  credit: z.string().min(1).optional(),
  url: z.string().url().optional(),
});

export const articleBlockSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('paragraph'), text: z.string().min(1) }),
  z.object({
    type: z.literal('heading'),
    level: z.union([z.literal(2), z.literal(3)]),
    text: z.string().min(1),
  }),
  z.object({
    type: z.literal('list'),
    ordered: z.boolean(),
    items: z.array(z.string().min(1)).min(1),
  }),
  z.object({
    type: z.literal('quote'),
    text: z.string().min(1),
    cite: z.string().min(1).optional(),
  }),
  z.object({
    type: z.literal('image'),
    url: z.string().url(),
    alt: z.string().optional(),
    caption: z.string().min(1).optional(),
    credit: z.string().min(1).optional(),
  }),
]);
export type ArticleBlock = z.infer<typeof articleBlockSchema>;

export const articleSchema = z.object({
  title: z.string().trim().min(1, 'an article needs a title'),
  standfirst: z.string().min(1).optional(),
  paragraphs: z.array(z.string().min(1)).min(1, 'an article needs at least one paragraph'),
  blocks: z.array(articleBlockSchema).optional(),
  image: articleImageSchema.optional(),
  /** The agency or outlet credited at the end (AFP, Reuters, AP…). */
  source: z.string().min(1).optional(),
  byline: z.string().min(1).optional(),
  url: z.string().url().optional(),
  /** ISO-8601 instant. */
  publishedAt: z.string().datetime({ offset: true }).optional(),
  /** Topic ids (see src/topics). */
  topics: z.array(z.string().min(1)).default([]),
});

export type ArticleImage = z.infer<typeof articleImageSchema>;
export type Article = z.infer<typeof articleSchema>;

/** An article as stored: the Article plus its store id. */
export type StoredArticle = Article & { id: number };

/** The body as blocks: the stored blocks, or one paragraph block per paragraph for older articles. */
export function articleBlocks(article: Pick<Article, 'paragraphs' | 'blocks'>): ArticleBlock[] {
  return article.blocks && article.blocks.length > 0
    ? article.blocks
    : article.paragraphs.map((text) => ({ type: 'paragraph' as const, text }));
}
