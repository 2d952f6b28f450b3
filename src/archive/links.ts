// Which campaigns have a public web version, and at which stable address. Plain functions with
// no store or template imports: the delivery renderer reads them for the "View in browser" link.
import type { Campaign } from '../campaigns/model.ts';

/** Longest slug kept in an archive address (the id alone identifies the campaign). */
const MAX_SLUG = 60;

/**
 * Whether a campaign gets a web version once it goes out: editor newsletters and topic alerts
 * (kind `campaign`: every follower gets the same text) unless kept out. Digests (each one a
 * selection for a group of subscribers), confirmations and welcome mails never do.
 */
export function isArchivable(campaign: Pick<Campaign, 'kind' | 'archive'>): boolean {
  return campaign.kind === 'campaign' && campaign.archive;
}

/** `Lavrov arrives in Beijing…` → `lavrov-arrives-in-beijing`: ASCII words joined by `-`. */
export function archiveSlug(subject: string): string {
  const words = subject
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const cut = words.slice(0, MAX_SLUG);
  // Cut at a word boundary when the subject is long.
  return (words.length > MAX_SLUG ? cut.slice(0, cut.lastIndexOf('-')) || cut : cut).replace(
    /-+$/,
    '',
  );
}

/** `/archive/<id>-<slug>` (or `/archive/<id>` when the subject has no ASCII word). */
export function archivePath(campaign: Pick<Campaign, 'id' | 'subject'>): string {
  const slug = archiveSlug(campaign.subject);
  return slug ? `/archive/${campaign.id}-${slug}` : `/archive/${campaign.id}`;
}

/** The absolute address of the campaign's web version under PUBLIC_URL. */
export function archiveUrl(publicUrl: string, campaign: Pick<Campaign, 'id' | 'subject'>): string {
  return `${publicUrl.replace(/\/+$/, '')}${archivePath(campaign)}`;
}

/** The "View in browser" address a message of this campaign carries, or undefined for none. */
export function viewInBrowserUrl(
  publicUrl: string,
  campaign: Pick<Campaign, 'id' | 'subject' | 'kind' | 'archive'>,
): string | undefined {
  return isArchivable(campaign) ? archiveUrl(publicUrl, campaign) : undefined;
}
