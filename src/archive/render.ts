// A campaign's web version: the same compiled newsletter its recipients got, personalised with
// neutral values and stripped of everything personal or mail-only (greeting, footer with the
// unsubscribe and preferences links, "View in browser", the hidden preheader).
import type { Kysely } from 'kysely';
import { parseHTML } from 'linkedom';
import { loadArticles } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { newsletterInput } from '../delivery/renderer.ts';
import type { Database } from '../store/schema.ts';
import { compileNewsletter } from '../templates/index.ts';
import { createPersonaliser } from '../templates/personalise.ts';
import { topicNames } from '../topics/catalogue.ts';
import type { ArchivedCampaign } from './repository.ts';

/** The newsletter's body markup and the style sheets it needs, ready to embed in a page. */
export interface ArchivedNewsletter {
  /** CSS of the newsletter's own <style> elements (its responsive and dark-mode rules). */
  styles: string[];
  /** The inner HTML of the newsletter's <body>, with nothing personal left in it. */
  body: string;
  /** The first article's standfirst or opening, for index cards and feed items. */
  summary: string;
  /** Display names of the campaign's audience topics, by id. */
  topicNames: Record<string, string>;
}

/** Parts of the compiled message that only make sense in one recipient's mailbox. */
const MAIL_ONLY = ['.hd-footer', '.hd-view-online', '.preheader', 'script', 'noscript'];
/** Elements that could run or embed something; the compiled newsletter has none, kept so. */
const ACTIVE = ['script', 'iframe', 'object', 'embed', 'form', 'base', 'link', 'meta'];

/**
 * Renders the campaign's archive version from the same compile its messages came from (same
 * NewsletterInput, so the same cache entry); the placeholders get neutral values.
 */
export async function renderArchivedNewsletter(
  db: Kysely<Database>,
  config: Config,
  campaign: ArchivedCampaign,
): Promise<ArchivedNewsletter> {
  const articles = await loadArticles(db, campaign.articleIds);
  const names = await topicNames(db, campaign.audienceTopics);
  const compiled = await compileNewsletter(
    newsletterInput(campaign, articles, names, config.PUBLIC_URL),
    config,
  );
  const subscribeUrl = `${config.PUBLIC_URL.replace(/\/+$/, '')}/subscribe`;
  const { html } = createPersonaliser(compiled)({
    name: null,
    followedTopicNames: [],
    unsubscribeUrl: subscribeUrl,
    preferencesUrl: subscribeUrl,
  });
  const first = articles[0];
  const summary = first?.standfirst ?? first?.paragraphs[0] ?? '';
  return { ...stripForWeb(html, config.PUBLIC_URL), summary, topicNames: names };
}

/**
 * Takes a personalised newsletter document apart for a web page: its style sheets, and its
 * body without mail-only parts, active content, event handlers, or images from other hosts
 * (the site's Content-Security-Policy allows only its own; they become links to the photo).
 */
export function stripForWeb(html: string, publicUrl: string): { styles: string[]; body: string } {
  const { document } = parseHTML(html);
  const styles = [...document.querySelectorAll('style')].map((s) => s.textContent ?? '');
  for (const selector of MAIL_ONLY) {
    for (const element of document.querySelectorAll(selector)) element.remove();
  }
  // The greeting's text sits in a table cell: its whole row goes.
  for (const cell of document.querySelectorAll('.hd-greeting')) {
    (cell.closest('tr') ?? cell).remove();
  }
  const body = document.body;
  for (const selector of ACTIVE) {
    for (const element of body.querySelectorAll(selector)) element.remove();
  }
  const origin = new URL(publicUrl).origin;
  for (const element of body.querySelectorAll('*')) {
    for (const attribute of [...element.attributes]) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.trim().toLowerCase();
      if (name.startsWith('on') || (name === 'href' && value.startsWith('javascript:'))) {
        element.removeAttribute(attribute.name);
      }
    }
  }
  for (const image of body.querySelectorAll('img')) {
    const src = image.getAttribute('src') ?? '';
    if (src.startsWith(`${origin}/`) || src.startsWith('/')) continue;
    const link = document.createElement('a');
    link.setAttribute('href', src);
    link.setAttribute('class', 'hd-photo-link');
    link.setAttribute('rel', 'noopener');
    link.textContent = `Photo: ${image.getAttribute('alt') || 'open the image'}`;
    image.replaceWith(link);
  }
  // Links leave the page without telling the other site where the reader came from.
  for (const anchor of body.querySelectorAll('a[href^="http"]')) {
    if (!anchor.getAttribute('href')?.startsWith(`${origin}/`)) {
      anchor.setAttribute('rel', 'noopener noreferrer');
    }
  }
  // Outlook's conditional comments mean nothing on the web.
  return { styles, body: body.innerHTML.replace(/<!--[\s\S]*?-->/g, '') };
}
