// An HTML news page: the article is extracted with @mozilla/readability over a linkedom DOM.
import { Readability } from '@mozilla/readability';
import { Parser } from 'htmlparser2';
import { parseHTML } from 'linkedom';
import type { ArticleDraft } from './draft.ts';
import { ArticleInputError } from './errors.ts';
import { bylineOf, cleanBlocks, photoCaptionOf, photoDescriptionOf, squash } from './furniture.ts';
import { type ArticleBlock, type ArticleImage, paragraphsOf } from './schema.ts';

/**
 * Readability's work grows with the cube of nesting depth (2,000 unclosed <div> took 142 s):
 * pages nested deeper than this are refused. Real news pages stay well under 60.
 */
export const MAX_HTML_DEPTH = 128;
/** More elements than this is not an article page. */
export const MAX_HTML_ELEMENTS = 20_000;

type HtmlDocument = ReturnType<typeof parseHTML>['document'];
type HtmlElement = NonNullable<ReturnType<HtmlDocument['querySelector']>>;

/** The elements that make body blocks; only the outermost one of nested ones counts. */
const BLOCKS = 'p, h1, h2, h3, h4, h5, h6, ul, ol, li, blockquote, pre, figure, img';

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

/**
 * Refuses a page nested too deep or with too many elements before any DOM is built: one pass
 * of the tokenizer linkedom itself uses (htmlparser2), so depth is counted as linkedom would
 * build it (building a DOM thousands of levels deep was itself quadratic).
 */
function assertBounded(html: string): void {
  let depth = 0;
  let elements = 0;
  const parser = new Parser({
    onopentagname() {
      depth += 1;
      elements += 1;
      if (depth > MAX_HTML_DEPTH) {
        throw new ArticleInputError(
          'body',
          `the HTML nests elements more than ${MAX_HTML_DEPTH} deep (the limit)`,
        );
      }
      if (elements > MAX_HTML_ELEMENTS) {
        throw new ArticleInputError(
          'body',
          `the HTML has more than ${MAX_HTML_ELEMENTS.toLocaleString('en')} elements (the limit)`,
        );
      }
    },
    onclosetag() {
      depth -= 1;
    },
  });
  parser.end(html);
}

/**
 * A quote block from a <blockquote>: its text, and who said it from a <cite> or <footer>, or
 * from a last paragraph that starts with a dash.
 */
function quoteOf(element: HtmlElement): ArticleBlock | undefined {
  const citeElement = element.querySelector('footer, cite');
  let cite = squash(citeElement?.textContent ?? '').replace(/^(—|–|--)\s*/, '');
  citeElement?.remove();
  const paragraphs = [...(element.querySelectorAll('p') as Iterable<HtmlElement>)]
    .map((p) => squash(p.textContent ?? ''))
    .filter(Boolean);
  const last = paragraphs.at(-1);
  if (!cite && paragraphs.length > 1 && last && /^(—|–|--)\s*\S/.test(last)) {
    cite = last.replace(/^(—|–|--)\s*/, '');
    paragraphs.pop();
  }
  const text = paragraphs.length > 0 ? paragraphs.join(' ') : squash(element.textContent ?? '');
  if (!text) return undefined;
  return { type: 'quote', text, ...(cite ? { cite } : {}) };
}

/** An image block from an <img> or a later <figure>, or undefined without an absolute url. */
function imageBlockOf(element: HtmlElement, base: string | undefined): ArticleBlock | undefined {
  const image =
    element.tagName === 'FIGURE'
      ? imageOf(element, base)
      : {
          url: absoluteUrl(element.getAttribute('src'), base),
          alt: squash(element.getAttribute('alt') ?? '') || undefined,
        };
  if (!image.url) return undefined;
  return {
    type: 'image',
    url: image.url,
    ...(image.alt ? { alt: image.alt } : {}),
    ...(image.caption ? { caption: image.caption } : {}),
    ...(image.credit ? { credit: image.credit } : {}),
  };
}

/** The body blocks of an element in reading order; `lead` (the lead figure) is left out. */
function blocksOf(
  root: HtmlElement | HtmlDocument,
  base: string | undefined,
  lead: HtmlElement | null,
): ArticleBlock[] {
  const blocks: ArticleBlock[] = [];
  for (const element of root.querySelectorAll(BLOCKS) as Iterable<HtmlElement>) {
    if (element === lead || element.parentElement?.closest(BLOCKS)) continue;
    const tag = element.tagName;
    const text = () => squash(element.textContent ?? '');
    if (tag === 'FIGURE' || tag === 'IMG') {
      const image = imageBlockOf(element, base);
      if (image) blocks.push(image);
    } else if (tag === 'UL' || tag === 'OL') {
      const items = [...(element.children as Iterable<HtmlElement>)]
        .filter((child) => child.tagName === 'LI')
        .map((child) => squash(child.textContent ?? ''))
        .filter(Boolean);
      if (items.length > 0) blocks.push({ type: 'list', ordered: tag === 'OL', items });
    } else if (tag === 'BLOCKQUOTE') {
      const quote = quoteOf(element);
      if (quote) blocks.push(quote);
    } else if (/^H[1-6]$/.test(tag)) {
      if (text()) blocks.push({ type: 'heading', level: tag <= 'H2' ? 2 : 3, text: text() });
    } else if (tag === 'P' && !text()) {
      // A paragraph holding only a picture.
      const img = element.querySelector('img');
      const image = img ? imageBlockOf(img, base) : undefined;
      if (image) blocks.push(image);
    } else if (text()) {
      blocks.push({ type: 'paragraph', text: text() });
    }
  }
  return blocks;
}

/** The page's own summary (og:description, else meta description), when it is not the lead. */
function standfirstOf(
  description: string | undefined,
  firstParagraph: string | undefined,
): string | undefined {
  if (!description) return undefined;
  // Many pages use the first paragraph (or its start, cut with "…") as their description.
  const stem = description.replace(/(\.\.\.|…)$/, '').trim();
  if (firstParagraph && stem && firstParagraph.startsWith(stem)) return undefined;
  return description;
}

/** Parses an HTML page into an article draft. */
export function parseHtml(html: string): ArticleDraft {
  assertBounded(html);
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
  const metaAuthor = metaOf(document, 'author');
  const heading = squash(document.querySelector('h1')?.textContent ?? '');
  const description = metaOf(document, 'og:description') ?? metaOf(document, 'description');

  const extracted = new Readability(document, { charThreshold: 100 }).parse();
  const content = parseHTML(
    `<!doctype html><html><body>${extracted?.content ?? ''}</body></html>`,
  ).document;
  const title = squash(extracted?.title ?? '') || heading;
  const figure = content.querySelector('figure');
  // The first figure before any text is the lead photo; later ones are image blocks.
  let image: ArticleImage | undefined = figure ? imageOf(figure, url) : undefined;
  if (!image?.url && metaImage) image = { ...image, url: metaImage };

  const rawByline = extracted?.byline ? squash(extracted.byline) : undefined;
  const byline = rawByline
    ? (bylineOf(rawByline) ?? bylineOf(`By ${rawByline}`) ?? rawByline)
    : undefined;
  // The page's own byline paragraph is already in `byline`; it is not body text. Nor is a
  // heading repeating the title.
  const blocks = blocksOf(content.body, url, figure).filter(
    (block) =>
      !(
        block.type === 'paragraph' &&
        byline &&
        (block.text === rawByline || bylineOf(block.text) === byline)
      ) && !(block.type === 'heading' && block.text === title),
  );
  const cleaned = cleanBlocks(blocks);
  const paragraphs = paragraphsOf(cleaned.blocks);
  const authorMeta = metaAuthor && !/^https?:/i.test(metaAuthor) ? metaAuthor : undefined;
  return {
    title,
    standfirst: standfirstOf(description, paragraphs[0]),
    paragraphs,
    blocks: cleaned.blocks,
    image: cleaned.image
      ? { ...image, ...cleaned.image }
      : image && Object.keys(image).length > 0
        ? image
        : undefined,
    source: cleaned.source,
    byline: byline ?? cleaned.byline ?? authorMeta,
    url,
    publishedAt,
  };
}
