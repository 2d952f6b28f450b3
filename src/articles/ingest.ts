// Reading an article file for `herald ingest`: size checked before reading, parsed off the
// main thread with the same limits as the API.
import { readFile, stat } from 'node:fs/promises';
import { ArticleInputError } from './errors.ts';
import { MAX_ARTICLE_BYTES } from './parse.ts';
import { parseArticleOffThread } from './parse-pool.ts';
import type { Article } from './schema.ts';

/**
 * Reads and parses one article file. Throws an ArticleInputError for input the editor can fix,
 * an ArticleParseLimitError when the parse ran over a limit, and fs errors (ENOENT…) as is.
 */
export async function readArticleFile(file: string): Promise<Article> {
  // Refuse a huge file before reading it into memory.
  const info = await stat(file);
  if (info.size > MAX_ARTICLE_BYTES) {
    throw new ArticleInputError(
      'body',
      `the article is ${(info.size / 1024 / 1024).toFixed(1)} MB; the limit is ${MAX_ARTICLE_BYTES / 1024 / 1024} MB`,
    );
  }
  return parseArticleOffThread({ body: await readFile(file), filename: file });
}
