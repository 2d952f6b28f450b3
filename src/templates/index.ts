// Newsletter rendering: MJML compiled once per campaign into HTML + text that still carry
// per-recipient placeholders, cached by content hash; personalisation lives in personalise.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { convert } from 'html-to-text';
import mjml2html from 'mjml';
import type { StoredArticle } from '../articles/schema.ts';
import type { Config } from '../config/index.ts';

export type TemplateName = 'alert' | 'digest';
export const templateNames: readonly TemplateName[] = ['alert', 'digest'];

export interface NewsletterInput {
  template: TemplateName;
  subject: string;
  /** alert: one article; digest: articles grouped by topic (display names) */
  groups: Array<{ topicId: string; topicName: string; articles: StoredArticle[] }>;
}

/** A campaign's newsletter, compiled once: `html` and `text` hold Handlebars placeholders. */
export interface CompiledNewsletter {
  hash: string;
  subject: string;
  html: string;
  text: string;
}

/** Where the MJML sources live (repo root `templates/`). */
export const templatesDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates');

/** How many leading paragraphs a digest card shows when the article has no standfirst. */
const CARD_LEAD_CHARS = 280;

interface Sources {
  layouts: Record<TemplateName, string>;
  partials: Record<string, string>;
  digest: string;
}

let sources: Sources | undefined;

/** Reads the MJML layouts and partials once per process; their digest joins the cache key. */
function loadSources(): Sources {
  if (sources) return sources;
  const read = (path: string) => readFileSync(resolve(templatesDir, path), 'utf8');
  const layouts = { alert: read('layouts/alert.mjml'), digest: read('layouts/digest.mjml') };
  const partials = {
    header: read('partials/header.mjml'),
    'article-card': read('partials/article-card.mjml'),
    footer: read('partials/footer.mjml'),
  };
  const digest = createHash('sha256')
    .update(JSON.stringify([layouts, partials]))
    .digest('hex');
  sources = { layouts, partials, digest };
  return sources;
}

let stage1: typeof Handlebars | undefined;
const stage1Templates = new Map<TemplateName, Handlebars.TemplateDelegate>();

/** The compile-time Handlebars environment (article data into MJML), with the partials. */
function stage1Template(name: TemplateName): Handlebars.TemplateDelegate {
  const cached = stage1Templates.get(name);
  if (cached) return cached;
  const src = loadSources();
  if (!stage1) {
    stage1 = Handlebars.create();
    for (const [partial, text] of Object.entries(src.partials)) {
      stage1.registerPartial(partial, text);
    }
  }
  const template = stage1.compile(src.layouts[name], { strict: false, noEscape: false });
  stage1Templates.set(name, template);
  return template;
}

/**
 * Breaks `{{` and `}}` in text that came from articles or editors with a zero-width space, so
 * no article can inject a placeholder into the per-recipient stage (or leave one behind).
 */
export function defuseBraces(text: string): string {
  return text.replace(/\{(?=\{)/g, '{\u200b').replace(/\}(?=\})/g, '}\u200b');
}

/** A digest card's lead: the standfirst, else the first paragraph cut at a word boundary. */
function cardLead(article: StoredArticle): string {
  if (article.standfirst) return article.standfirst;
  const first = article.paragraphs[0] ?? '';
  if (first.length <= CARD_LEAD_CHARS) return first;
  const cut = first.slice(0, CARD_LEAD_CHARS);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 1))}…`;
}

/** The URL when it is http(s); anything else (javascript:, data:…) never reaches a link. */
export function webUrl(url: string | undefined): string | undefined {
  return url !== undefined && /^https?:\/\/[^\s]+$/i.test(url) ? url : undefined;
}

/** A copy of the article with every string defused (see defuseBraces) and only web URLs. */
function defuseArticle(article: StoredArticle): StoredArticle {
  const d = (v: string | undefined) => (v === undefined ? undefined : defuseBraces(v));
  return {
    ...article,
    url: webUrl(article.url),
    title: defuseBraces(article.title),
    standfirst: d(article.standfirst),
    paragraphs: article.paragraphs.map(defuseBraces),
    source: d(article.source),
    byline: d(article.byline),
    image: article.image && {
      ...article.image,
      url: webUrl(article.image.url),
      alt: d(article.image.alt),
      caption: d(article.image.caption),
      credit: d(article.image.credit),
    },
  };
}

/** The view model the MJML layouts read (brand, postal address, groups of article views). */
function viewModel(input: NewsletterInput, config: Config) {
  const groups = input.groups.map((group) => ({
    topicName: defuseBraces(group.topicName),
    articles: group.articles.map((raw) => {
      const article = defuseArticle(raw);
      return {
        article,
        paragraphs: article.paragraphs,
        lead: defuseBraces(cardLead(raw)),
        imageAlt: article.image?.alt ?? article.image?.caption ?? article.title,
      };
    }),
  }));
  const first = groups[0]?.articles[0];
  return {
    subject: defuseBraces(input.subject),
    preview: first ? (first.article.standfirst ?? first.lead) : '',
    brand: defuseBraces(senderName(config.MAIL_FROM)),
    postalAddress: defuseBraces(config.POSTAL_ADDRESS),
    groups,
  };
}

/** The display name of MAIL_FROM (`Herald <x@y>` gives `Herald`), or the address itself. */
export function senderName(mailFrom: string): string {
  const match = /^\s*"?([^"<]*?)"?\s*<[^>]+>\s*$/.exec(mailFrom);
  return match?.[1]?.trim() || mailFrom.trim();
}

/** Renders a layout's MJML source for an input: article data in, recipient placeholders kept. */
export function renderMjml(input: NewsletterInput, config: Config): string {
  return stage1Template(input.template)(viewModel(input, config));
}

/** Turns compiled HTML into the plain-text part: reads as the article, links listed. */
export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: 78,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'title', format: 'skip' },
      // The hidden preheader is for inbox previews only.
      { selector: 'div.preheader', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['<', '>'] } },
    ],
  })
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The cache key: layouts + partials + input + the config values the templates read. */
function contentHash(input: NewsletterInput, config: Config): string {
  return createHash('sha256')
    .update(loadSources().digest)
    .update('\0')
    .update(JSON.stringify(input))
    .update('\0')
    .update(JSON.stringify([config.MAIL_FROM, config.POSTAL_ADDRESS]))
    .digest('hex');
}

const CACHE_LIMIT = 64;
const cache = new Map<string, Promise<CompiledNewsletter>>();

/**
 * Compiles a newsletter once: Handlebars puts the (escaped) article data into the MJML layout,
 * MJML (strict validation) makes the HTML, html-to-text the text part. Results are cached by
 * content hash, so every batch of one campaign reuses the same compile.
 */
export function compileNewsletter(
  input: NewsletterInput,
  config: Config,
): Promise<CompiledNewsletter> {
  const hash = contentHash(input, config);
  const hit = cache.get(hash);
  if (hit) {
    // Re-insert so the map's order doubles as least-recently-used.
    cache.delete(hash);
    cache.set(hash, hit);
    return hit;
  }
  const pending = compileUncached(input, config, hash);
  cache.set(hash, pending);
  pending.catch(() => cache.delete(hash));
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  return pending;
}

async function compileUncached(
  input: NewsletterInput,
  config: Config,
  hash: string,
): Promise<CompiledNewsletter> {
  if (input.groups.every((group) => group.articles.length === 0)) {
    throw new Error('a newsletter needs at least one article');
  }
  const result = await mjml2html(renderMjml(input, config), {
    validationLevel: 'strict',
    keepComments: false,
  });
  const html = result.html;
  return { hash, subject: input.subject, html, text: htmlToText(html) };
}
