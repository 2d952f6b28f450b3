// Campaigns in the store: create, read, and move between states with guarded updates.
import type { Kysely } from 'kysely';
import { getArticle } from '../articles/repository.ts';
import type { StoredArticle } from '../articles/schema.ts';
import { countLedger } from '../store/ledger.ts';
import type { CampaignStatus, Database } from '../store/schema.ts';
import { countAudience } from './audience.ts';
import { type Campaign, type CreateCampaign, toCampaign } from './model.ts';

/** A request that names something missing or not allowed now; the caller answers 4xx. */
export class CampaignError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
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
  const known = new Set(
    (await db.selectFrom('topics').select('id').where('id', 'in', topics).execute()).map(
      (t) => t.id,
    ),
  );
  const unknown = topics.find((topic) => !known.has(topic));
  if (unknown) throw new CampaignError(`unknown topic "${unknown}"`, 'topics');
  const row = await db
    .insertInto('campaigns')
    .values({
      kind: 'campaign',
      subject: input.subject ?? articles[0]!.title,
      template: input.template,
      article_ids: JSON.stringify(input.articleIds),
      audience_topics: JSON.stringify(topics),
      excerpt_paragraphs: input.excerpt ?? null,
      status: 'draft',
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { campaign: toCampaign(row), audienceSize: await countAudience(db, topics) };
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
}

/** The status and counts of a campaign, derived from its ledger rows. */
export async function campaignStatus(
  db: Kysely<Database>,
  id: number,
): Promise<CampaignStatusReport> {
  const campaign = await requireCampaign(db, id);
  const counts = await countLedger(db, id);
  return {
    id,
    status: campaign.status,
    total: counts.total,
    sent: counts.sent,
    failed: counts.failed,
    bounced: counts.bounced,
    suppressed: counts.suppressed,
    pending: counts.pending + counts.sending,
    reason: campaign.statusReason,
  };
}
