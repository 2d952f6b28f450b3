// What each archive address answers, as plain functions over the store and config: the route
// file only parses the request and writes the answer.
import type { Kysely } from 'kysely';
import { CampaignError } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import type { Database } from '../store/schema.ts';
import { senderName } from '../templates/index.ts';
import { archiveRss } from './feed.ts';
import { archivePath, archiveUrl } from './links.ts';
import { renderArchivedNewsletter } from './render.ts';
import {
  type ArchivedCampaign,
  archivedTopicCounts,
  getArchivedCampaign,
  issueSummaries,
  listArchive,
  shortSummary,
} from './repository.ts';
import { indexPage, issuePage, notFoundPage, type SiteInfo } from './views.ts';

export interface ArchiveDeps {
  db: Kysely<Database>;
  config: Config;
}

/** An answer for the route to send: a document, or a permanent redirect to the canonical URL. */
export interface SiteAnswer {
  status: 200 | 404;
  contentType: string;
  body: string;
  redirect?: string;
}

/** Issues per index page. */
export const ISSUES_PER_PAGE = 20;
/** Items per RSS feed (the newest). */
export const FEED_ITEMS = 50;

const HTML = 'text/html; charset=utf-8';
const RSS = 'application/rss+xml; charset=utf-8';

function site(config: Config): SiteInfo {
  return { brand: senderName(config.MAIL_FROM), postalAddress: config.POSTAL_ADDRESS };
}

function notFound(config: Config, message: string): SiteAnswer {
  return { status: 404, contentType: HTML, body: notFoundPage(site(config), message) };
}

interface TopicRow {
  id: string;
  name: string;
  description: string;
}

async function allTopics(db: Kysely<Database>): Promise<Map<string, TopicRow>> {
  const rows = await db.selectFrom('topics').select(['id', 'name', 'description']).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

function topicsOf(campaign: ArchivedCampaign, topics: Map<string, TopicRow>) {
  return campaign.audienceTopics.map((id) => ({ id, name: topics.get(id)?.name ?? id }));
}

/** The archive index (all issues, or one topic's) at a page; 404 for an unknown topic or page. */
export async function archiveIndex(
  deps: ArchiveDeps,
  topicId: string | undefined,
  page: number,
): Promise<SiteAnswer> {
  const topics = await allTopics(deps.db);
  const topic = topicId === undefined ? undefined : topics.get(topicId);
  if (topicId !== undefined && !topic) return notFound(deps.config, 'There is no such topic.');
  const listing = await listArchive(deps.db, topicId === undefined ? {} : { topicId }, {
    limit: ISSUES_PER_PAGE,
    offset: (page - 1) * ISSUES_PER_PAGE,
  });
  const pages = Math.max(1, Math.ceil(listing.total / ISSUES_PER_PAGE));
  if (page > pages) return notFound(deps.config, `This list has ${pages} page(s).`);
  const summaries = await issueSummaries(deps.db, listing.items);
  const counts = await archivedTopicCounts(deps.db);
  const body = indexPage({
    site: site(deps.config),
    ...(topic ? { topic } : {}),
    topics: [...counts]
      .map(([id, count]) => ({ id, name: topics.get(id)?.name ?? id, count }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    issues: listing.items.map((campaign) => ({
      path: archivePath(campaign),
      subject: campaign.subject,
      publishedAt: campaign.publishedAt,
      summary: summaries.get(campaign.id) ?? '',
      topics: topicsOf(campaign, topics),
    })),
    page,
    pages,
    total: listing.total,
  });
  return { status: 200, contentType: HTML, body };
}

/**
 * One issue's web version; `ref` is the address as asked (`<id>-<slug>`): another slug for
 * the same id redirects to the canonical address. 404 when the campaign is not public.
 */
export async function archiveIssue(
  deps: ArchiveDeps,
  id: number,
  ref: string,
): Promise<SiteAnswer> {
  const campaign = await getArchivedCampaign(deps.db, id);
  if (!campaign) return notFound(deps.config, 'This issue is not in the archive.');
  const canonical = archivePath(campaign);
  if (`/archive/${ref}` !== canonical) {
    return { status: 200, contentType: HTML, body: '', redirect: canonical };
  }
  let rendered: Awaited<ReturnType<typeof renderArchivedNewsletter>>;
  try {
    rendered = await renderArchivedNewsletter(deps.db, deps.config, campaign);
  } catch (error) {
    // An article of the campaign was deleted since: nothing whole to show.
    if (error instanceof CampaignError && error.status === 404)
      return notFound(deps.config, 'This issue is no longer available.');
    throw error;
  }
  const body = issuePage({
    site: site(deps.config),
    subject: campaign.subject,
    publishedAt: campaign.publishedAt,
    summary: shortSummary(rendered.summary),
    topics: campaign.audienceTopics.map((topicId) => ({
      id: topicId,
      name: rendered.topicNames[topicId] ?? topicId,
    })),
    newsletterBody: rendered.body,
    newsletterStyles: rendered.styles,
  });
  return { status: 200, contentType: HTML, body };
}

/** The RSS 2.0 feed of all issues or of one topic's (the newest FEED_ITEMS); 404 for no topic. */
export async function archiveFeed(
  deps: ArchiveDeps,
  topicId: string | undefined,
): Promise<SiteAnswer> {
  const topics = await allTopics(deps.db);
  const topic = topicId === undefined ? undefined : topics.get(topicId);
  if (topicId !== undefined && !topic) return notFound(deps.config, 'There is no such topic.');
  const listing = await listArchive(deps.db, topicId === undefined ? {} : { topicId }, {
    limit: FEED_ITEMS,
    offset: 0,
  });
  const summaries = await issueSummaries(deps.db, listing.items);
  const base = deps.config.PUBLIC_URL.replace(/\/+$/, '');
  const brand = senderName(deps.config.MAIL_FROM);
  const body = archiveRss(
    {
      title: topic ? `${brand}: ${topic.name}` : `${brand}: all issues`,
      link: topic ? `${base}/archive/topics/${topic.id}` : `${base}/archive`,
      description:
        topic?.description ||
        (topic ? `Newsletters about ${topic.name}` : `Every newsletter ${brand} has sent`),
    },
    listing.items.map((campaign) => ({
      url: archiveUrl(deps.config.PUBLIC_URL, campaign),
      subject: campaign.subject,
      summary: summaries.get(campaign.id) ?? '',
      publishedAt: campaign.publishedAt,
      topicNames: topicsOf(campaign, topics).map((t) => t.name),
    })),
  );
  return { status: 200, contentType: RSS, body };
}
