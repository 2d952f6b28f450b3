// Newsletter rendering: MJML compiled once per campaign into HTML + text that still carry
// per-recipient placeholders, cached by content hash; personalisation lives in personalise.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { convert } from 'html-to-text';
import { type ArticleBlock, articleBlocks, type StoredArticle } from '../articles/schema.ts';
import type { Config } from '../config/index.ts';
import { type CampaignTemplate, campaignTemplates, TEMPLATES } from './catalogue.ts';
import { mjmlToHtml } from './mjml-process.ts';
import { createPersonaliser } from './personalise.ts';

/** The templates this module renders from articles: the table's campaign templates. */
export type TemplateName = CampaignTemplate;
export const templateNames: readonly TemplateName[] = campaignTemplates;

export interface NewsletterInput {
  template: TemplateName;
  subject: string;
  /** alert: one article; digest: articles grouped by topic (display names) */
  groups: Array<{ topicId: string; topicName: string; articles: StoredArticle[] }>;
  /** Send only the first N paragraphs of each article (with a "Continue reading" link). */
  excerptParagraphs?: number;
  /** The issue's date (YYYY-MM-DD) shown in the masthead; default: the day it is compiled. */
  issueDate?: string;
  /** The inbox preview line; absent: the first article's standfirst or lead. */
  preheader?: string;
  /** The campaign's public web version (src/archive), linked as "View in browser"; none: no link. */
  archiveUrl?: string;
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
  const layouts = Object.fromEntries(
    templateNames.map((name) => [name, read(TEMPLATES[name].layout)]),
  ) as Record<TemplateName, string>;
  const partials = {
    head: read('partials/head.mjml'),
    preheader: read('partials/preheader.mjml'),
    header: read('partials/header.mjml'),
    'article-body': read('partials/article-body.mjml'),
    'article-card': read('partials/article-card.mjml'),
    footer: read('partials/footer.mjml'),
    'view-online': read('partials/view-online.mjml'),
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
  // The first real paragraph: `paragraphs` also holds the text of headings, lists and quotes.
  const block = articleBlocks(article).find((b) => b.type === 'paragraph');
  const first = block?.type === 'paragraph' ? block.text : (article.paragraphs[0] ?? '');
  if (first.length <= CARD_LEAD_CHARS) return first;
  const cut = first.slice(0, CARD_LEAD_CHARS);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 1))}…`;
}

/** The URL when it is http(s); anything else (javascript:, data:…) never reaches a link. */
export function webUrl(url: string | undefined): string | undefined {
  // Braces never: they would read as placeholders in the per-recipient stage.
  return url !== undefined && /^https?:\/\/[^\s{}]+$/i.test(url) ? url : undefined;
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
    blocks: article.blocks?.map(defuseBlock),
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

function defuseBlock(block: ArticleBlock): ArticleBlock {
  const d = (v: string | undefined) => (v === undefined ? undefined : defuseBraces(v));
  switch (block.type) {
    case 'paragraph':
    case 'heading':
      return { ...block, text: defuseBraces(block.text) };
    case 'list':
      return { ...block, items: block.items.map(defuseBraces) };
    case 'quote':
      return { ...block, text: defuseBraces(block.text), cite: d(block.cite) };
    case 'image':
      return { ...block, alt: d(block.alt), caption: d(block.caption), credit: d(block.credit) };
  }
}

/** One text block as the layouts read it: exactly one of its fields is set. */
interface BlockView {
  paragraph?: string;
  heading2?: string;
  heading3?: string;
  list?: { ordered: boolean; items: string[] };
  quote?: { text: string; cite?: string };
}

interface ImageView {
  url: string;
  alt: string;
  /** Caption and credit in one line ("… Photo: AFP"), when there is either. */
  note?: string;
}

/** Consecutive text blocks share one MJML text element; an image stands alone between them. */
type BodyRun =
  | { blocks: BlockView[]; image?: undefined }
  | { image: ImageView; blocks?: undefined };

function imageNote(caption: string | undefined, credit: string | undefined): string | undefined {
  if (caption && credit) return `${caption} Photo: ${credit}`;
  return caption ?? (credit ? `Photo: ${credit}` : undefined);
}

/** Groups blocks into runs; images without a web URL are dropped (nothing to show). */
function bodyRuns(blocks: ArticleBlock[]): BodyRun[] {
  const runs: BodyRun[] = [];
  for (const block of blocks) {
    if (block.type === 'image') {
      const url = webUrl(block.url);
      if (url)
        runs.push({
          image: {
            url,
            alt: block.alt ?? block.caption ?? '',
            note: imageNote(block.caption, block.credit),
          },
        });
      continue;
    }
    const view: BlockView =
      block.type === 'paragraph'
        ? { paragraph: block.text }
        : block.type === 'heading'
          ? block.level === 2
            ? { heading2: block.text }
            : { heading3: block.text }
          : block.type === 'list'
            ? { list: { ordered: block.ordered, items: block.items } }
            : { quote: { text: block.text, cite: block.cite } };
    const last = runs[runs.length - 1];
    if (last?.blocks) last.blocks.push(view);
    else runs.push({ blocks: [view] });
  }
  return runs;
}

/**
 * The first `paragraphs` paragraph blocks and whatever precedes them (headings, lists, quotes,
 * images); `cut` tells whether anything was left out.
 */
export function excerptBlocks(
  blocks: ArticleBlock[],
  paragraphs: number,
): { blocks: ArticleBlock[]; cut: boolean } {
  let seen = 0;
  for (let i = 0; i < blocks.length; i++) {
    if (blocks[i]!.type === 'paragraph' && ++seen === paragraphs) {
      return { blocks: blocks.slice(0, i + 1), cut: i + 1 < blocks.length };
    }
  }
  return { blocks, cut: false };
}

/** `1 December 2026` for `2026-12-01` (the masthead's date, read as a calendar day). */
function issueDateLabel(isoDate: string): string {
  const date = new Date(`${isoDate}T12:00:00Z`);
  return Number.isNaN(date.getTime())
    ? isoDate
    : new Intl.DateTimeFormat('en-GB', {
        weekday: 'long',
        day: 'numeric',
        month: 'long',
        year: 'numeric',
        timeZone: 'UTC',
      }).format(date);
}

/**
 * Zero-width and non-breaking fillers after the preheader, so inbox previews do not run on
 * into the masthead text when the preheader is short (the usual `&#847; &zwnj; &nbsp;` run).
 */
const PREHEADER_PADDING = '&#847; &zwnj; &nbsp; '.repeat(60);

/** The view model the MJML layouts read (brand, postal address, groups of article views). */
function viewModel(input: NewsletterInput, config: Config, issueDate: string) {
  const groups = input.groups.map((group) => ({
    topicName: defuseBraces(group.topicName),
    articles: group.articles.map((raw) => {
      const article = defuseArticle(raw);
      const all = articleBlocks(article);
      // An excerpt needs somewhere to continue reading.
      const excerpt =
        input.excerptParagraphs !== undefined && article.url
          ? excerptBlocks(all, input.excerptParagraphs)
          : { blocks: all, cut: false };
      const image = article.image;
      // A caption or credit without a photo to go with would describe nothing.
      const leadImage = image?.url
        ? {
            url: image.url,
            alt: image.alt ?? image.caption ?? article.title,
            note: imageNote(image.caption, image.credit),
          }
        : undefined;
      return {
        article,
        runs: bodyRuns(excerpt.blocks),
        excerpted: excerpt.cut,
        leadImage,
        byline: article.byline ? `By ${article.byline}` : undefined,
        linkLabel: article.title,
        lead: defuseBraces(cardLead(raw)),
        isLead: false,
      };
    }),
  }));
  const first = groups[0]?.articles[0];
  // One h1 per message: the first headline; later ones in a multi-article alert are h2.
  if (first) first.isLead = true;
  return {
    subject: defuseBraces(input.subject),
    preview: input.preheader
      ? defuseBraces(input.preheader)
      : first
        ? (first.article.standfirst ?? first.lead)
        : '',
    preheaderPadding: PREHEADER_PADDING,
    brand: defuseBraces(senderName(config.MAIL_FROM)),
    issueDateLabel: issueDateLabel(issueDate),
    postalAddress: defuseBraces(config.POSTAL_ADDRESS),
    archiveUrl: webUrl(input.archiveUrl),
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
  return stage1Template(input.template)(viewModel(input, config, input.issueDate ?? today()));
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * Turns compiled HTML into the plain-text part: reads as the article, links listed. The footer
 * is left out here: `textFooter` writes it with one link per line.
 */
export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: 78,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'title', format: 'skip' },
      // The hidden preheader is for inbox previews only.
      { selector: 'div.preheader', format: 'skip' },
      { selector: 'div.hd-footer', format: 'skip' },
      { selector: 'h1', options: { uppercase: false, leadingLineBreaks: 1 } },
      { selector: 'h2', options: { uppercase: false, leadingLineBreaks: 2 } },
      { selector: 'h3', options: { uppercase: false, leadingLineBreaks: 2 } },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['<', '>'] } },
      // A digest headline's link is repeated by the card's "Read …" line: list the URL once.
      { selector: 'a.hd-headline', format: 'anchor', options: { ignoreHref: true } },
    ],
  })
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The text part's footer: why, one link per line (URLs never share a line), the address. */
function textFooter(postalAddress: string): string {
  return [
    '-- ',
    '{{reason}}',
    '',
    'Unsubscribe: {{{unsubscribeUrl}}}',
    'Manage your preferences: {{{preferencesUrl}}}',
    '',
    defuseBraces(postalAddress),
  ].join('\n');
}

/**
 * MJML writes `height="auto"` on images, which is not a valid attribute value (heights are
 * pixels); the inline style already says `height:auto`, so the attribute goes.
 */
function dropAutoHeight(html: string): string {
  return html.replace(/<img\b[^>]*>/g, (tag) => tag.replace(/\sheight="auto"/, ''));
}

/** Subjects longer than this are cut in most inbox lists. */
export const SUBJECT_WARN_CHARS = 80;
/** Gmail clips messages whose HTML passes 102 kB; warn with room for links and headers. */
export const HTML_WARN_BYTES = 90 * 1024;

/**
 * Warnings about a compiled newsletter, for the editor creating it: a long subject, HTML near
 * Gmail's clipping size (measured with a recipient's links filled in).
 */
export function newsletterWarnings(
  compiled: CompiledNewsletter,
  config: Pick<Config, 'PUBLIC_URL'>,
): string[] {
  const warnings: string[] = [];
  const subjectLength = [...compiled.subject].length;
  if (subjectLength > SUBJECT_WARN_CHARS) {
    warnings.push(
      `subject: ${subjectLength} characters; inboxes show about ${SUBJECT_WARN_CHARS}, the rest is cut`,
    );
  }
  // A real token is about 150 characters; the sample is as long.
  const sampleUrl = `${config.PUBLIC_URL}/unsubscribe?token=${'x'.repeat(150)}`;
  const { html } = createPersonaliser(compiled)({
    name: 'Sample Reader',
    followedTopicNames: [],
    unsubscribeUrl: sampleUrl,
    preferencesUrl: sampleUrl,
  });
  const bytes = Buffer.byteLength(html, 'utf8');
  if (bytes > HTML_WARN_BYTES) {
    warnings.push(
      `html: ${Math.round(bytes / 1024)} kB; Gmail clips messages over 102 kB (hiding the unsubscribe link): send an excerpt or fewer articles`,
    );
  }
  return warnings;
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
  // The day is fixed here, so the cache key changes with it.
  const dated: NewsletterInput = { ...input, issueDate: input.issueDate ?? today() };
  const hash = contentHash(dated, config);
  const hit = cache.get(hash);
  if (hit) {
    // Re-insert so the map's order doubles as least-recently-used.
    cache.delete(hash);
    cache.set(hash, hit);
    return hit;
  }
  const pending = compileUncached(dated, config, hash);
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
  const html = dropAutoHeight(await mjmlToHtml(renderMjml(input, config)));
  const text = `${htmlToText(html)}\n\n${textFooter(config.POSTAL_ADDRESS)}`;
  return { hash, subject: input.subject, html, text };
}
