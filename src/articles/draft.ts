// The loose shape a format parser hands back before zod validates it into an Article.
import type { ArticleImage } from './schema.ts';

export interface ArticleDraft {
  title?: unknown;
  standfirst?: unknown;
  paragraphs?: unknown;
  blocks?: unknown;
  image?: ArticleImage | unknown;
  source?: unknown;
  byline?: unknown;
  url?: unknown;
  publishedAt?: unknown;
  topics?: unknown;
  tags?: unknown;
}
