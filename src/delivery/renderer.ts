// Compiles a campaign's newsletter once per process and hands out its per-recipient builder.
import type { Kysely } from 'kysely';
import type { StoredArticle } from '../articles/schema.ts';
import { viewInBrowserUrl } from '../campaigns/archive-links.ts';
import type { Campaign } from '../campaigns/model.ts';
import { loadArticles } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { prepareTracking } from '../engagement/tracking.ts';
import type { Database } from '../store/schema.ts';
import { campaignTemplate } from '../templates/catalogue.ts';
import {
  compileNewsletter,
  type NewsletterInput,
  newsletterWarnings,
  webUrl,
} from '../templates/index.ts';
import { topicNames } from '../topics/catalogue.ts';
import { compileWelcome } from '../welcome/render.ts';
import { type BuiltMessage, createMessageBuilder, type Recipient } from './message.ts';

export type BuildMessage = (recipient: Recipient) => BuiltMessage;

export interface CampaignRenderer {
  build: BuildMessage;
  /** Display names of the campaign's audience topics, by id. */
  topicNames: Record<string, string>;
}

/**
 * Groups a campaign's articles under its audience topics (an article under its first match).
 * The issue date is the campaign's creation day; an excerpt setting carries over. With
 * `publicUrl`, an archived campaign's messages link to its web version ("View in browser").
 */
export function newsletterInput(
  campaign: Pick<Campaign, 'template' | 'subject' | 'audienceTopics'> &
    Partial<Pick<Campaign, 'excerpt' | 'createdAt' | 'id' | 'kind' | 'archive' | 'preheader'>>,
  articles: readonly StoredArticle[],
  names: Record<string, string>,
  publicUrl?: string,
): NewsletterInput {
  const groups: NewsletterInput['groups'] = campaign.audienceTopics.map((topicId) => ({
    topicId,
    topicName: names[topicId] ?? topicId,
    articles: [],
  }));
  for (const article of articles) {
    const group = groups.find((g) => article.topics.includes(g.topicId)) ?? groups[0];
    group?.articles.push(article);
  }
  const filled = groups.filter((group) => group.articles.length > 0);
  return {
    template: campaignTemplate(campaign.template, 'the campaign'),
    subject: campaign.subject,
    groups: filled,
    ...(campaign.preheader ? { preheader: campaign.preheader } : {}),
    ...(campaign.excerpt ? { excerptParagraphs: campaign.excerpt } : {}),
    ...(campaign.createdAt ? { issueDate: campaign.createdAt.slice(0, 10) } : {}),
    ...archiveLink(campaign, publicUrl),
  };
}

/** `{archiveUrl}` when the campaign is a known, archived one and links are wanted; else `{}`. */
function archiveLink(
  campaign: Partial<Pick<Campaign, 'id' | 'kind' | 'archive' | 'subject'>>,
  publicUrl: string | undefined,
): { archiveUrl?: string } {
  const { id, kind, archive, subject } = campaign;
  if (publicUrl === undefined || id === undefined || kind === undefined) return {};
  if (archive === undefined || subject === undefined) return {};
  const url = viewInBrowserUrl(publicUrl, { id, kind, archive, subject });
  return url ? { archiveUrl: url } : {};
}

/**
 * What an editor should hear about a new campaign's message before sending it: a subject
 * longer than inboxes show, HTML heavy enough for Gmail to clip (see newsletterWarnings).
 */
export async function campaignWarnings(
  db: Kysely<Database>,
  config: Config,
  campaign: Campaign,
): Promise<string[]> {
  const articles = await loadArticles(db, campaign.articleIds);
  const names = await topicNames(db, campaign.audienceTopics);
  const compiled = await compileNewsletter(
    newsletterInput(campaign, articles, names, config.PUBLIC_URL),
    config,
  );
  const whole = campaign.excerpt ? articles.filter((article) => !webUrl(article.url)) : [];
  return [
    ...newsletterWarnings(compiled, config),
    ...whole.map(
      (article) =>
        `excerpt: article ${article.id} has no web URL to continue reading at, so it is sent whole`,
    ),
  ];
}

const renderers = new Map<string, Promise<CampaignRenderer>>();
const MAX_CACHED = 32;
// Campaign ids are per store: two stores open in one process (tests, benches) must not share
// a renderer (its tracked links are stored in one of them).
const storeSerials = new WeakMap<object, number>();
let lastStoreSerial = 0;

function rendererKey(db: Kysely<Database>, campaignId: number): string {
  let serial = storeSerials.get(db);
  if (serial === undefined) {
    serial = ++lastStoreSerial;
    storeSerials.set(db, serial);
  }
  return `${serial}:${campaignId}`;
}

/** The campaign's renderer, compiled on first use in this process (MJML runs once). */
export function campaignRenderer(
  db: Kysely<Database>,
  config: Config,
  campaign: Campaign,
): Promise<CampaignRenderer> {
  const key = rendererKey(db, campaign.id);
  const cached = renderers.get(key);
  if (cached) return cached;
  const made = (async () => {
    const articles = await loadArticles(db, campaign.articleIds);
    const names = await topicNames(db, campaign.audienceTopics);
    const untracked =
      campaign.kind === 'welcome'
        ? await compileWelcome(db, config, campaign)
        : await compileNewsletter(
            newsletterInput(campaign, articles, names, config.PUBLIC_URL),
            config,
          );
    const { compiled, plan } = await prepareTracking(db, config, campaign, untracked);
    const build = createMessageBuilder(
      compiled,
      { campaignId: campaign.id, kind: campaign.kind, tracking: plan },
      config,
    );
    return { build, topicNames: names };
  })();
  made.catch(() => renderers.delete(key));
  if (renderers.size >= MAX_CACHED) renderers.delete(renderers.keys().next().value!);
  renderers.set(key, made);
  return made;
}

/**
 * Drops this process's compiled renderer of the campaign: an editor changed its subject,
 * preheader or audience (only while draft or scheduled, before any worker renders it).
 */
export function forgetCampaignRenderer(db: Kysely<Database>, campaignId: number): void {
  renderers.delete(rendererKey(db, campaignId));
}
