// One article from a URL an editor gives (the console's "ingest by URL"): fetched under the
// same protections as a feed (http(s) only, public addresses only unless allowed, redirects
// re-checked hop by hop, one time limit, a size cap) and parsed off the main thread. An HTML
// page goes through the HTML article parser; a document served as one of the other article
// formats (text, Markdown, JSON) through its own.
import { ArticleInputError } from '../articles/errors.ts';
import { formatOfMediaType, MAX_FORMAT_BYTES } from '../articles/formats.ts';
import { parseArticleOffThread } from '../articles/parse-pool.ts';
import { type Article, articleSchema } from '../articles/schema.ts';
import { FetchError, safeFetch } from './fetch.ts';

export interface ArticlePageOptions {
  /**
   * Hosts (`name` or `name:port`, lower case) that may be on a private address (an intranet
   * CMS); every other private or reserved address is refused, on every redirect hop too.
   */
  privateHosts: readonly string[];
  timeoutMs: number;
}

/** The largest page fetched: the largest article format (HTML), so no parser limit is lower. */
export const MAX_ARTICLE_PAGE_BYTES = Math.max(...Object.values(MAX_FORMAT_BYTES));

/** What went wrong with the URL, in words an editor can act on (the `url` field's message). */
export function fetchFailureText(error: FetchError): string {
  // The fetcher's own hint ("add the feed with --allow-private") is for feeds, not here.
  const message = error.message.split('; add the feed')[0] ?? error.message;
  switch (error.kind) {
    case 'scheme':
      return message;
    case 'blocked':
      return `private address refused: ${message}`;
    case 'timeout':
      return `timeout: the page gave ${message}`;
    case 'too-large':
      return `too large: the page is over the ${MAX_ARTICLE_PAGE_BYTES / 1024 / 1024} MB limit for an article`;
    case 'http':
      return `the site answered ${message}`;
    default:
      return message;
  }
}

/**
 * Fetches `url` and parses the article it serves; the article's `url` is where the page came
 * from (after redirects) unless the page names its own canonical URL. Throws an
 * ArticleInputError on field `url` for anything the fetch refused or failed at (the reason in
 * words), and the parser's own errors (ArticleInputError, ArticleParseLimitError) as they are.
 */
export async function fetchArticlePage(url: string, options: ArticlePageOptions): Promise<Article> {
  let page: Awaited<ReturnType<typeof safeFetch>>;
  try {
    page = await safeFetch(url, {
      allowPrivate: (hop) =>
        options.privateHosts.includes(hop.host.toLowerCase()) ||
        options.privateHosts.includes(hop.hostname.toLowerCase()),
      timeoutMs: options.timeoutMs,
      maxBytes: MAX_ARTICLE_PAGE_BYTES,
      accept: 'text/html, application/xhtml+xml;q=0.9, text/markdown;q=0.8, text/plain;q=0.5',
    });
  } catch (error) {
    if (error instanceof FetchError) throw new ArticleInputError('url', fetchFailureText(error));
    throw error;
  }
  const type = page.contentType ?? undefined;
  // No type at all: the parser looks at the text. A type that is no article format: refused.
  if (type && formatOfMediaType(type) === null) {
    const mediaType = type.split(';')[0]?.trim().toLowerCase();
    throw new ArticleInputError('url', `not an article: the page is ${mediaType}`);
  }
  const parsed = await parseArticleOffThread({
    body: page.body,
    ...(type ? { contentType: type } : {}),
  });
  return articleSchema.parse({ ...parsed, url: parsed.url ?? page.url });
}
