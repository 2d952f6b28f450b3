// What a campaign tracks and the per-recipient values that go with it: decided once per
// campaign when its newsletter is compiled (see src/delivery/renderer.ts), filled in per
// recipient when the message is personalised (see src/delivery/message.ts).
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import type { CampaignKind, Database } from '../store/schema.ts';
import { engagementDb } from '../store/schema-engagement.ts';
import type { CompiledNewsletter } from '../templates/index.ts';
import { signToken } from '../tokens/index.ts';
import { trackLinks } from './links.ts';

/** A campaign's tracking, as compiled into its newsletter. */
export interface TrackingPlan {
  campaignId: number;
  /** How many tracked links the HTML holds (placeholders 0 … linkCount-1). */
  linkCount: number;
  /** Whether the HTML holds the open image's placeholder (filled for consenting readers). */
  opens: boolean;
}

/** Kinds of mail that carry tracking: never confirmations or welcome mails (transactional). */
const TRACKED_KINDS: ReadonlySet<CampaignKind> = new Set(['campaign', 'digest']);

/** Whether a campaign tracks clicks: its own setting (track_clicks), else TRACK_CLICKS. */
export function clicksTracked(override: number | null | undefined, setting: boolean): boolean {
  return override === null || override === undefined ? setting : override === 1;
}

/** A campaign's click-tracking override: null follows TRACK_CLICKS. */
export async function campaignClickOverride(
  db: Kysely<Database>,
  campaignId: number,
): Promise<number | null> {
  const row = await engagementDb(db)
    .selectFrom('campaigns')
    .select('track_clicks')
    .where('id', '=', campaignId)
    .executeTakeFirst();
  return row?.track_clicks ?? null;
}

/** Sets (true/false) or clears (null: follow TRACK_CLICKS) a campaign's click tracking. */
export async function setCampaignClickTracking(
  db: Kysely<Database>,
  campaignId: number,
  on: boolean | null,
): Promise<boolean> {
  const result = await engagementDb(db)
    .updateTable('campaigns')
    .set({ track_clicks: on === null ? null : on ? 1 : 0 })
    .where('id', '=', campaignId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Stores a campaign's tracked URLs and returns each URL's link index. Indices already stored
 * (another process compiled the same campaign) are kept; new URLs get the next free ones.
 */
export async function registerLinks(
  db: Kysely<Database>,
  campaignId: number,
  urls: readonly string[],
): Promise<number[]> {
  const edb = engagementDb(db);
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await edb
      .selectFrom('engagement_links')
      .select(['link_index', 'url'])
      .where('campaign_id', '=', campaignId)
      .execute();
    const byUrl = new Map(stored.map((row) => [row.url, row.link_index]));
    const missing = urls.filter((url) => !byUrl.has(url));
    if (missing.length === 0) return urls.map((url) => byUrl.get(url)!);
    let next = stored.reduce((max, row) => Math.max(max, row.link_index + 1), 0);
    // A racing process may take the same indices: nothing is overwritten, the loop re-reads.
    await edb
      .insertInto('engagement_links')
      .values(missing.map((url) => ({ campaign_id: campaignId, link_index: next++, url })))
      .onConflict((oc) => oc.columns(['campaign_id', 'link_index']).doNothing())
      .execute();
  }
  throw new Error(`campaign ${campaignId}: could not store its tracked links`);
}

/**
 * Rewrites a compiled newsletter for a campaign's tracking, storing its links; returns the
 * newsletter unchanged (and no plan) when the campaign tracks nothing.
 */
export async function prepareTracking(
  db: Kysely<Database>,
  config: Pick<Config, 'TRACK_CLICKS' | 'TRACK_OPENS'>,
  campaign: { id: number; kind: CampaignKind },
  compiled: CompiledNewsletter,
): Promise<{ compiled: CompiledNewsletter; plan?: TrackingPlan }> {
  if (!TRACKED_KINDS.has(campaign.kind)) return { compiled };
  const clicks = clicksTracked(await campaignClickOverride(db, campaign.id), config.TRACK_CLICKS);
  const opens = config.TRACK_OPENS;
  if (!clicks && !opens) return { compiled };
  const tracked = trackLinks(compiled.html, { clicks, withOpenPixel: opens });
  const indices = await registerLinks(db, campaign.id, tracked.urls);
  // Placeholders were numbered in document order; map them to the stored indices.
  const html = indices.every((stored, i) => stored === i)
    ? tracked.html
    : tracked.html.replace(
        /\{\{\{clickUrls\.\[(\d+)\]\}\}\}/g,
        (_, n: string) => `{{{clickUrls.[${indices[Number(n)]}]}}}`,
      );
  const linkCount = indices.reduce((max, index) => Math.max(max, index + 1), 0);
  return {
    compiled: {
      ...compiled,
      html,
      hash: `${compiled.hash}:track:${campaign.id}:${clicks ? 1 : 0}${opens ? 1 : 0}`,
    },
    plan: { campaignId: campaign.id, linkCount, opens },
  };
}

/** A 1×1 transparent image tag for the open-tracking URL (hidden from screen readers). */
function openImage(url: string): string {
  return `<img src="${url}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" aria-hidden="true">`;
}

/** The per-recipient tracking values of a message (what PersonalVars's tracking fields hold). */
export interface TrackingVars {
  clickUrls?: string[];
  openPixel?: string;
}

/**
 * Returns the maker of a recipient's tracking values: one signed click token per tracked link
 * (campaign, link index, subscriber and their key), and the open image for a consenting reader.
 */
export function createTrackingVars(
  plan: TrackingPlan,
  config: Pick<Config, 'HERALD_SECRET' | 'PUBLIC_URL'>,
): (recipient: {
  subscriberId: number;
  tokenKey?: string;
  openTracking?: boolean;
}) => TrackingVars {
  const base = config.PUBLIC_URL.replace(/\/+$/, '');
  const secret = config.HERALD_SECRET;
  return (recipient) => {
    const claims = {
      subscriberId: recipient.subscriberId,
      campaignId: plan.campaignId,
      subscriberKey: recipient.tokenKey,
    };
    const clickUrls: string[] = new Array(plan.linkCount);
    for (let i = 0; i < plan.linkCount; i++) {
      // Tokens are base64url and the base an http(s) URL: safe in an attribute as is.
      clickUrls[i] = `${base}/r/${signToken(secret, 'click', { ...claims, linkIndex: i })}`;
    }
    const openPixel =
      plan.opens && recipient.openTracking === true
        ? openImage(`${base}/o/${signToken(secret, 'open', claims)}`)
        : '';
    return { clickUrls, openPixel };
  };
}
