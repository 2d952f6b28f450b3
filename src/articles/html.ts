// An HTML news page: the article is extracted with @mozilla/readability over a linkedom DOM.
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import type { ArticleDraft } from './draft.ts';
import { bylineOf, cleanBlocks, photoCaptionOf, photoDescriptionOf, squash } from './furniture.ts';
import type { ArticleImage } from './schema.ts';

type HtmlDocument = ReturnType<typeof parseHTML>['document'];
type HtmlElement = NonNullable<ReturnType<HtmlDocument['querySelector']>>;

const BLOCKS = 'p, h2, h3, h4, h5, h6, li, blockquote, pre';

/** An absolute http(s) URL for `href` against `base`, or undefined. */
function absoluteUrl(
  href: string | null | undefined,
  base: string | undefined,
): string | undefined {
  if (!href) return undefined;
  try {
    const url = new URL(href, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The content of the first <meta> with this property or name. */
function metaOf(document: HtmlDocument, key: string): string | undefined {
  const element =
    document.querySelector(`meta[property="${key}"]`) ??
    document.querySelector(`meta[name="${key}"]`);
  const content = element?.getAttribute('content');
  return content ? squash(content) : undefined;
}

/** An ISO instant from a page's date text, or undefined when it is not a date. */
function isoOf(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The photo of a <figure>: url and alt from its <img>, caption and credit from its caption. */
function imageOf(figure: HtmlElement, base: string | undefined): ArticleImage {
  const img = figure.querySelector('img');
  const image: ArticleImage = {};
  const url = absoluteUrl(img?.getAttribute('src'), base);
  if (url) image.url = url;
  const alt = squash(img?.getAttribute('alt') ?? '');
  if (alt) image.alt = alt;
  let caption = squash(figure.querySelector('figcaption')?.textContent ?? '');
  // "Shoppers in Shanghai. PHOTO: Reuters" or "… (Photo by NAME / AFP)": split off the credit.
  const captioned = photoCaptionOf(caption);
  if (captioned) {
    image.credit = captioned.credit;
    caption = captioned.caption;
  }
  const described = photoDescriptionOf(caption);
  if (described) {
    image.credit = described.credit;
    caption = described.text;
  }
  if (caption) image.caption = caption;
  return image;
}

/** The text blocks of an element, outermost block elements only, figures left out. */
function blocksOf(root: HtmlElement | HtmlDocument): string[] {
  const blocks: string[] = [];
  for (const element of root.querySelectorAll(BLOCKS) as Iterable<HtmlElement>) {
    if (element.closest('figure')) continue;
    if (element.parentElement?.closest(BLOCKS)) continue;
    const text = squash(element.textContent ?? '');
    if (text) blocks.push(text);
  }
  return blocks;
}

/** Parses an HTML page into an article draft. */
export function parseHtml(html: string): ArticleDraft {
  const { document } = parseHTML(html);
  // Readability rewrites the document: read the page's metadata first.
  const url = absoluteUrl(
    metaOf(document, 'og:url') ??
      document.querySelector('link[rel="canonical"]')?.getAttribute('href'),
    undefined,
  );
  const publishedAt = isoOf(
    metaOf(document, 'article:published_time') ??
      document.querySelector('time[datetime]')?.getAttribute('datetime') ??
      undefined,
  );
  const metaImage = absoluteUrl(metaOf(document, 'og:image'), url);
  const heading = squash(document.querySelector('h1')?.textContent ?? '');

  const extracted = new Readability(document, { charThreshold: 100 }).parse();
  const content = parseHTML(
    `<!doctype html><html><body>${extracted?.content ?? ''}</body></html>`,
  ).document;
  const figure = content.querySelector('figure');
  let image: ArticleImage | undefined = figure ? imageOf(figure, url) : undefined;
  if (!image?.url && metaImage) image = { ...image, url: metaImage };

  const byline = extracted?.byline
    ? (bylineOf(squash(extracted.byline)) ?? squash(extracted.byline))
    : undefined;
  // The page's own byline paragraph is already in `byline`; it is not body text.
  const blocks = blocksOf(content.body).filter(
    (block) => !byline || (block !== byline && bylineOf(block) !== byline),
  );
  const cleaned = cleanBlocks(blocks);
  const title = squash(extracted?.title ?? '') || heading;
  return {
    title,
    paragraphs: cleaned.paragraphs,
    image: cleaned.image
      ? { ...image, ...cleaned.image }
      : image && Object.keys(image).length > 0
        ? image
        : undefined,
    source: cleaned.source,
    byline: byline ?? cleaned.byline,
    url,
    publishedAt,
  };
}
