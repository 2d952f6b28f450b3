// The one Article shape every parser produces and every later stage consumes.
import { z } from 'zod';

export const articleImageSchema = z.object({
  alt: z.string().min(1).optional(),
  caption: z.string().min(1).optional(),
  credit: z.string().min(1).optional(),
  url: z.string().url().optional(),
});

export const articleSchema = z.object({
  title: z.string().trim().min(1, 'an article needs a title'),
  standfirst: z.string().min(1).optional(),
  paragraphs: z.array(z.string().min(1)).min(1, 'an article needs at least one paragraph'),
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
