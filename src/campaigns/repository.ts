// Campaigns in the store: create, read, and move between states with guarded updates.
import type { Kysely } from 'kysely';
import { getArticle } from '../articles/repository.ts';
import type { StoredArticle } from '../articles/schema.ts';
import { InputError, kindOfStatus } from '../errors/index.ts';
import { countLedger } from '../ledger/ledger.ts';
import { unsentZoneInstants } from '../ledger/reports.ts';
import type { CampaignStatus, Database } from '../store/schema.ts';
import { audienceZones, countAudience } from './audience.ts';
import { type Campaign, type CreateCampaign, toCampaign } from './model.ts';

/** A request that names something missing or not allowed now; the caller answers 4xx. */
export class CampaignError extends InputError {
  constructor(
    message: string,
    field: string,
    /** The status it was raised with (its kind follows from it); kept for callers reading it. */
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(kindOfStatus(status), field, message);
    this.name = 'CampaignError';
  }
}

/** Loads the campaign's articles in the given order; throws naming a missing one. */
export async function loadArticles(
  db: Kysely<Database>,
  ids: readonly number[],
): Promise<StoredArticle[]> {
  const articles: StoredArticle[] = [];
  for (const id of ids) {
    const article = await getArticle(db, id);
    if (!article) throw new CampaignError(`article ${id} does not exist`, 'articleIds', 404);
    articles.push(article);
  }
  return articles;
}

/** Creates a draft campaign; topics default to its articles' topics, subject to the first title. */
export async function createCampaign(
  db: Kysely<Database>,
  input: CreateCampaign,
  now: string,
): Promise<{ campaign: Campaign; audienceSize: number }> {
  const articles = await loadArticles(db, input.articleIds);
  const topics = input.topics ?? [...new Set(articles.flatMap((article) => article.topics))];
  if (topics.length === 0) {
    throw new CampaignError('the articles have no topics: name the audience with topics', 'topics');
  }
  await requireKnownTopics(db, topics);
  const row = await db
    .insertInto('campaigns')
    .values({
      kind: 'campaign',
      subject: input.subject ?? articles[0]!.title,
      preheader: input.preheader ? input.preheader : null,
      template: input.template,
      article_ids: JSON.stringify(input.articleIds),
      audience_topics: JSON.stringify(topics),
      excerpt_paragraphs: input.excerpt ?? null,
      archived: input.archive === false ? 0 : 1,
      status: 'draft',
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { campaign: toCampaign(row), audienceSize: await countAudience(db, topics) };
}

/** Throws a 400 CampaignError naming the first topic the catalogue does not hold. */
export async function requireKnownTopics(
  db: Kysely<Database>,
  topics: readonly string[],
): Promise<void> {
  if (topics.length === 0) return;
  const known = new Set(
    (
      await db
        .selectFrom('topics')
        .select('id')
        .where('id', 'in', [...topics])
        .execute()
    ).map((t) => t.id),
  );
  const unknown = topics.find((topic) => !known.has(topic));
  if (unknown) throw new CampaignError(`unknown topic "${unknown}"`, 'topics');
}

/** The campaign, or null. */
export async function getCampaign(db: Kysely<Database>, id: number): Promise<Campaign | null> {
  const row = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toCampaign(row) : null;
}

/** The campaign, or a 404 CampaignError. */
export async function requireCampaign(db: Kysely<Database>, id: number): Promise<Campaign> {
  const campaign = await getCampaign(db, id);
  if (!campaign) throw new CampaignError(`campaign ${id} does not exist`, 'id', 404);
  return campaign;
}

/**
 * Moves a campaign to `to` only if it is in one of `from` (so two processes never both win);
 * returns whether it moved.
 */
export async function moveCampaign(
  db: Kysely<Database>,
  id: number,
  from: readonly CampaignStatus[],
  to: CampaignStatus,
  now: string,
  extra: {
    reason?: string | null;
    scheduledAt?: string | null;
    localTime?: string | null;
    startedAt?: string;
  } = {},
): Promise<boolean> {
  const result = await db
    .updateTable('campaigns')
    .set({
      status: to,
      updated_at: now,
      status_reason: extra.reason ?? null,
      ...(extra.scheduledAt !== undefined ? { scheduled_at: extra.scheduledAt } : {}),
      ...(extra.localTime !== undefined ? { local_time: extra.localTime } : {}),
      ...(extra.startedAt ? { started_at: extra.startedAt } : {}),
      ...(to === 'sent' || to === 'cancelled' ? { finished_at: now } : {}),
    })
    .where('id', '=', id)
    .where('status', 'in', [...from])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** When one time zone's group of a local-time send goes out. */
export interface ZoneSend {
  zone: string;
  at: string;
}

export interface CampaignStatusReport {
  id: number;
  status: CampaignStatus;
  total: number;
  sent: number;
  failed: number;
  bounced: number;
  suppressed: number;
  pending: number;
  /** Why the campaign is in its status (e.g. an auto-pause), if there is a reason. */
  reason: string | null;
  /** When a scheduled campaign starts (a local-time send: its first zone), else null. */
  scheduledAt: string | null;
  /** HH:MM in each subscriber's zone, for a local-time send; else null. */
  localTime: string | null;
  /** A local-time send still to go out: each zone's instant, earliest first. */
  zones?: ZoneSend[];
}

/** The status and counts of a campaign, derived from its ledger rows. */
export async function campaignStatus(
  db: Kysely<Database>,
  id: number,
): Promise<CampaignStatusReport> {
  const campaign = await requireCampaign(db, id);
  const counts = await countLedger(db, id);
  const report: CampaignStatusReport = {
    id,
    status: campaign.status,
    total: counts.total,
    sent: counts.sent,
    failed: counts.failed,
    bounced: counts.bounced,
    suppressed: counts.suppressed,
    pending: counts.pending + counts.sending,
    reason: campaign.statusReason,
    scheduledAt: campaign.scheduledAt,
    localTime: campaign.localTime,
  };
  const zones = await zoneSends(db, campaign);
  if (zones) report.zones = zones;
  return report;
}

/**
 * Each zone's send instant of a local-time campaign not yet finished: before the fan-out,
 * planned from the audience's zones as the fan-out will plan them; after it, read from the
 * unsent ledger rows (zones already sent drop out). Undefined for other campaigns.
 */
async function zoneSends(
  db: Kysely<Database>,
  campaign: Campaign,
): Promise<ZoneSend[] | undefined> {
  if (!campaign.localTime || campaign.status === 'sent' || campaign.status === 'cancelled')
    return undefined;
  // Loaded here: luxon is a `campaign status` call's cost only for local-time campaigns.
  const { nextLocalOccurrence, parseLocalTime } = await import('./schedule.ts');
  const time = parseLocalTime(campaign.localTime);
  if (!time) return undefined;
  let zones: ZoneSend[];
  if (!campaign.preparedAt) {
    const anchor = new Date(campaign.scheduledAt ?? campaign.createdAt);
    zones = (await audienceZones(db, campaign.audienceTopics)).map((zone) => ({
      zone,
      at: nextLocalOccurrence(time, zone, anchor).toISOString(),
    }));
  } else {
    zones = await unsentZoneInstants(db, campaign.id);
  }
  return zones.sort((a, b) => a.at.localeCompare(b.at) || a.zone.localeCompare(b.zone));
}

/** What a campaign list shows of each campaign. */
export interface CampaignSummary {
  id: number;
  kind: Campaign['kind'];
  subject: string;
  status: CampaignStatus;
  template: Campaign['template'];
  articleIds: number[];
  audienceTopics: string[];
  scheduledAt: string | null;
  localTime: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/**
 * Campaigns newest first, `limit` of them after the campaign `after` (its id; null: from the
 * newest), filtered by status and kind when given; reads one extra row so the caller knows
 * whether another page follows.
 */
export async function listCampaigns(
  db: Kysely<Database>,
  filter: { status?: CampaignStatus; kind?: Campaign['kind'] },
  page: { limit: number; after: number | null },
): Promise<CampaignSummary[]> {
  let query = db.selectFrom('campaigns').selectAll();
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  if (page.after !== null) query = query.where('id', '<', page.after);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
  return rows.map((row) => {
    const campaign = toCampaign(row);
    return {
      id: campaign.id,
      kind: campaign.kind,
      subject: campaign.subject,
      status: campaign.status,
      template: campaign.template,
      articleIds: campaign.articleIds,
      audienceTopics: campaign.audienceTopics,
      scheduledAt: campaign.scheduledAt,
      localTime: campaign.localTime,
      createdAt: campaign.createdAt,
      finishedAt: campaign.finishedAt,
    };
  });
}

/** Campaign states in which a campaign still needs its articles (it may yet send). */
export const LIVE_CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'sending',
  'paused',
] as const satisfies CampaignStatus[];

/** The campaigns not finished (draft, scheduled, sending, paused) that use the article. */
export async function liveCampaignsUsingArticle(
  db: Kysely<Database>,
  articleId: number,
): Promise<Array<{ id: number; status: CampaignStatus }>> {
  const rows = await db
    .selectFrom('campaigns')
    .select(['id', 'status', 'article_ids'])
    .where('status', 'in', [...LIVE_CAMPAIGN_STATUSES])
    .orderBy('id')
    .execute();
  return rows
    .filter((row) => (JSON.parse(row.article_ids) as number[]).includes(articleId))
    .map((row) => ({ id: row.id, status: row.status }));
}
