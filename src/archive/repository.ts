// The archive's reads and its one write: which sent campaigns are public, newest first, per
// topic, and the editor's switch that keeps a campaign out.
import type { Kysely } from 'kysely';
import type { Campaign } from '../campaigns/model.ts';
import { toCampaign } from '../campaigns/model.ts';
import { CampaignError, requireCampaign } from '../campaigns/repository.ts';
import type { CampaignStatus, Database } from '../store/schema.ts';
import { isArchivable } from './links.ts';

/** A campaign is public once it has started going out (a cancelled one is withdrawn). */
export const PUBLIC_STATUSES: readonly CampaignStatus[] = ['sending', 'paused', 'sent'];

/** A campaign as the archive shows it: when it went out is its publication date. */
export type ArchivedCampaign = Campaign & { publishedAt: string };

function published(campaign: Campaign): ArchivedCampaign | null {
  if (!isArchivable(campaign) || !PUBLIC_STATUSES.includes(campaign.status)) return null;
  return { ...campaign, publishedAt: campaign.startedAt ?? campaign.createdAt };
}

/** The campaign if it is in the public archive now, else null (unknown, kept out, unsent). */
export async function getArchivedCampaign(
  db: Kysely<Database>,
  id: number,
): Promise<ArchivedCampaign | null> {
  const row = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? published(toCampaign(row)) : null;
}

export interface ArchivePage {
  items: ArchivedCampaign[];
  /** Archived campaigns in the whole listing (all pages). */
  total: number;
}

/**
 * One page of the archive, newest first; with `topicId`, only campaigns whose audience names
 * that topic. Topic ids are `[a-z0-9-]` (checked at the edge), so the JSON text match is exact.
 */
export async function listArchive(
  db: Kysely<Database>,
  filter: { topicId?: string },
  page: { limit: number; offset: number },
): Promise<ArchivePage> {
  let query = db
    .selectFrom('campaigns')
    .where('kind', '=', 'campaign')
    .where('archived', '=', 1)
    .where('status', 'in', [...PUBLIC_STATUSES]);
  if (filter.topicId !== undefined) {
    query = query.where('audience_topics', 'like', `%${JSON.stringify(filter.topicId)}%`);
  }
  const counted = await query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  const rows = await query
    .selectAll()
    // Same order on both dialects (PostgreSQL would sort a null first): publication date.
    .orderBy((eb) => eb.fn.coalesce('started_at', 'created_at'), 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  return {
    items: rows.map((row) => published(toCampaign(row))).filter((c) => c !== null),
    total: Number(counted.n),
  };
}

/** Topic ids that at least one archived campaign was sent to, with how many. */
export async function archivedTopicCounts(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('campaigns')
    .select('audience_topics')
    .where('kind', '=', 'campaign')
    .where('archived', '=', 1)
    .where('status', 'in', [...PUBLIC_STATUSES])
    .execute();
  const counts = new Map<string, number>();
  for (const row of rows) {
    for (const topic of JSON.parse(row.audience_topics) as string[]) {
      counts.set(topic, (counts.get(topic) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Puts a campaign in the archive or keeps it out (`on` false); returns the campaign as it is
 * now. Only newsletters and alerts (kind `campaign`) can be archived: a 409 names the kind.
 */
export async function setArchived(
  db: Kysely<Database>,
  id: number,
  on: boolean,
  now: string,
): Promise<Campaign> {
  const campaign = await requireCampaign(db, id);
  if (on && campaign.kind !== 'campaign') {
    throw new CampaignError(
      `campaign ${id} is a ${campaign.kind}: only newsletters and alerts are archived`,
      'archive',
      409,
    );
  }
  await db
    .updateTable('campaigns')
    .set({ archived: on ? 1 : 0, updated_at: now })
    .where('id', '=', id)
    .execute();
  return { ...campaign, archive: on };
}

/** Longest summary an index card or feed item shows. */
const SUMMARY_CHARS = 280;

/** A lead cut at a word boundary when longer than SUMMARY_CHARS. */
export function shortSummary(text: string): string {
  if (text.length <= SUMMARY_CHARS) return text;
  const cut = text.slice(0, SUMMARY_CHARS);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 1))}…`;
}

/**
 * Each campaign's summary by campaign id: its first article's standfirst, else its first
 * paragraph (shortened); empty when that article is gone. One query for the whole page.
 */
export async function issueSummaries(
  db: Kysely<Database>,
  campaigns: readonly Pick<Campaign, 'id' | 'articleIds'>[],
): Promise<Map<number, string>> {
  const firstIds = [
    ...new Set(campaigns.map((c) => c.articleIds[0]).filter((id) => id !== undefined)),
  ];
  const rows =
    firstIds.length === 0
      ? []
      : await db
          .selectFrom('articles')
          .select(['id', 'standfirst', 'paragraphs'])
          .where('id', 'in', firstIds)
          .execute();
  const byArticle = new Map(
    rows.map((row) => [
      row.id,
      shortSummary(row.standfirst ?? (JSON.parse(row.paragraphs) as string[])[0] ?? ''),
    ]),
  );
  return new Map(campaigns.map((c) => [c.id, byArticle.get(c.articleIds[0] ?? -1) ?? ''] as const));
}
