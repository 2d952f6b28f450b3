// The campaign list behind GET /api/campaigns and the console's campaigns page: one zod schema
// for the query, one function for the page. Counts come from the ledger (src/ledger owns every
// statement on deliveries), for the page's campaigns only, in one grouped query.
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { z } from 'zod';
import {
  type CampaignLedgerCounts,
  ledgerCountsOfCampaigns,
  noLedgerCounts,
} from '../ledger/reports.ts';
import {
  afterRow,
  countOf,
  cursorSchema,
  type ListPage,
  likeContains,
  limitSchema,
  searchTextSchema,
  toListPage,
} from '../store/paging.ts';
import type { CampaignKind, CampaignStatus, Database } from '../store/schema.ts';
import { toCampaign } from './model.ts';

export const campaignStatuses = [
  'draft',
  'scheduled',
  'sending',
  'paused',
  'sent',
  'cancelled',
] as const satisfies readonly CampaignStatus[];
export const campaignKinds = [
  'campaign',
  'digest',
  'confirmation',
  'welcome',
] as const satisfies readonly CampaignKind[];

/** `status` and `kind` filter exactly; `q` searches the subject (any case). */
export const campaignListQuerySchema = z.object({
  status: z
    .enum(campaignStatuses, { message: `status must be one of ${campaignStatuses.join(', ')}` })
    .optional(),
  kind: z
    .enum(campaignKinds, { message: `kind must be one of ${campaignKinds.join(', ')}` })
    .optional(),
  q: searchTextSchema,
  limit: limitSchema,
  cursor: cursorSchema.optional(),
});

export type CampaignListQuery = z.output<typeof campaignListQuerySchema>;
export type CampaignListInput = z.input<typeof campaignListQuerySchema>;

/** What a campaign list shows of each campaign. */
export interface CampaignListItem {
  id: number;
  subject: string;
  status: CampaignStatus;
  kind: CampaignKind;
  template: string;
  /** The audience topics. */
  topics: string[];
  articleIds: number[];
  createdAt: string;
  /** The instant it is scheduled for (null: not scheduled at an instant). */
  scheduledAt: string | null;
  /** HH:MM when it sends at that local time in each subscriber's zone. */
  localTime: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Ledger counts (`pending` includes rows being sent), as `campaign status` shows them. */
  counts: CampaignLedgerCounts;
}

const countsSchema = z.object({
  total: z.number().int(),
  sent: z.number().int(),
  failed: z.number().int(),
  bounced: z.number().int(),
  suppressed: z.number().int(),
  pending: z.number().int(),
});

/** The response item shape, for the OpenAPI document. */
export const campaignListItemSchema = z.object({
  id: z.number().int(),
  subject: z.string(),
  status: z.enum(campaignStatuses),
  kind: z.enum(campaignKinds),
  template: z.string(),
  topics: z.array(z.string()),
  articleIds: z.array(z.number().int()),
  createdAt: z.string(),
  scheduledAt: z.string().nullable(),
  localTime: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  counts: countsSchema,
});

function filtered<O>(
  query: SelectQueryBuilder<Database, 'campaigns', O>,
  filter: CampaignListQuery,
): SelectQueryBuilder<Database, 'campaigns', O> {
  let q = query;
  if (filter.status) q = q.where('campaigns.status', '=', filter.status);
  if (filter.kind) q = q.where('campaigns.kind', '=', filter.kind);
  if (filter.q) {
    const pattern = likeContains(filter.q.toLowerCase());
    q = q.where(sql`lower(campaigns.subject)`, 'like', sql`${pattern} escape '\\'`);
  }
  return q;
}

/**
 * One page of campaigns, newest first (created_at, then id), each with its ledger counts, and
 * the count of every campaign the filters match. `query` is the parsed campaignListQuerySchema.
 */
export async function listCampaigns(
  db: Kysely<Database>,
  query: CampaignListQuery,
): Promise<ListPage<CampaignListItem>> {
  let page = filtered(db.selectFrom('campaigns').selectAll('campaigns'), query);
  if (query.cursor) page = page.where(afterRow(query.cursor, 'campaigns'));
  const rows = await page
    .orderBy('campaigns.created_at', 'desc')
    .orderBy('campaigns.id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const counted = await filtered(
    db.selectFrom('campaigns').select((eb) => eb.fn.countAll().as('n')),
    query,
  ).executeTakeFirstOrThrow();
  const counts = await ledgerCountsOfCampaigns(
    db,
    rows.slice(0, query.limit).map((row) => row.id),
  );
  return {
    ...toListPage(rows, query.limit, (row) => {
      const campaign = toCampaign(row);
      return {
        id: campaign.id,
        subject: campaign.subject,
        status: campaign.status,
        kind: campaign.kind,
        template: campaign.template,
        topics: campaign.audienceTopics,
        articleIds: campaign.articleIds,
        createdAt: campaign.createdAt,
        scheduledAt: campaign.scheduledAt,
        localTime: campaign.localTime,
        startedAt: campaign.startedAt,
        finishedAt: campaign.finishedAt,
        counts: counts.get(campaign.id) ?? noLedgerCounts(),
      };
    }),
    total: countOf(counted.n),
  };
}
