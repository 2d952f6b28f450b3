// What a digest holds and who shares it: pure decisions over articles already read.
// Subscribers whose digests hold the same articles under the same topic headings share one
// digest campaign, so its newsletter is compiled once however many receive it.
import type { StoredArticle } from '../articles/schema.ts';
import type { DigestFrequency } from './period.ts';

/** Articles per digest at most (the newest). */
export const DIGEST_MAX_ARTICLES = 10;

export interface DigestCandidate {
  subscriberId: number;
  frequency: DigestFrequency;
  /** The topics the subscriber follows. */
  topics: readonly string[];
  /** Their articles since their previous digest, newest first (already capped). */
  articles: readonly StoredArticle[];
  /** Start of the period this digest is for (the guard against a second one). */
  periodStart: Date;
  /** Held-back alert campaigns whose articles this digest carries (cleared when it is written). */
  heldCampaignIds?: readonly number[];
  /** A digest-off subscriber's digest of held-back alerts only. */
  heldOnly?: boolean;
}

export interface DigestGroup extends DigestContent {
  members: Array<{ subscriberId: number; periodStart: Date; heldCampaignIds: readonly number[] }>;
}

/**
 * A digest's articles: every held-back alert's article (they must not be dropped), then the
 * newest of the topic articles up to DIGEST_MAX_ARTICLES in all; newest first, no repeats.
 */
export function withHeldArticles(
  held: readonly StoredArticle[],
  topical: readonly StoredArticle[],
): StoredArticle[] {
  const chosen = [...held];
  for (const article of topical) {
    if (chosen.length >= Math.max(DIGEST_MAX_ARTICLES, held.length)) break;
    if (!chosen.some((a) => a.id === article.id)) chosen.push(article);
  }
  return chosen.sort(
    (a, b) => (b.publishedAt ?? '').localeCompare(a.publishedAt ?? '') || b.id - a.id,
  );
}

/**
 * The subscriber's followed topics that tag at least one of the articles, ordered by the
 * newest article each tags (so the freshest news leads the digest).
 */
export function digestTopics(
  followed: readonly string[],
  articles: readonly StoredArticle[],
): string[] {
  const topics: string[] = [];
  for (const article of articles)
    for (const topic of article.topics)
      if (followed.includes(topic) && !topics.includes(topic)) topics.push(topic);
  return topics;
}

/** What a digest holds: the identity of its content, its articles and its topic headings. */
export interface DigestContent {
  /** Identity of the content: frequency, article ids, topic headings. */
  key: string;
  frequency: DigestFrequency;
  heldOnly: boolean;
  articles: StoredArticle[];
  /** Topic headings in order: the followed topics that tag an article, freshest first. */
  topics: string[];
}

/**
 * The content of a digest with these followed topics and articles (already chosen, newest
 * first); null when there is no article (no digest is sent). Equal keys mean one campaign.
 */
export function digestContent(
  candidate: Pick<DigestCandidate, 'frequency' | 'topics' | 'articles' | 'heldOnly'>,
): DigestContent | null {
  if (candidate.articles.length === 0) return null;
  let topics = digestTopics(candidate.topics, candidate.articles);
  // A held alert's reader may have unfollowed its topic since: head it with its own topic.
  if (topics.length === 0) topics = candidate.articles.flatMap((a) => a.topics).slice(0, 1);
  const heldOnly = candidate.heldOnly === true;
  const key = JSON.stringify([
    candidate.frequency,
    heldOnly,
    candidate.articles.map((article) => article.id),
    topics,
  ]);
  return {
    key,
    frequency: candidate.frequency,
    heldOnly,
    articles: [...candidate.articles],
    topics,
  };
}

/** Groups candidates with new articles by identical digest content; those without are dropped. */
export function groupDigests(candidates: readonly DigestCandidate[]): DigestGroup[] {
  const groups = new Map<string, DigestGroup>();
  for (const candidate of candidates) {
    const content = digestContent(candidate);
    if (!content) continue;
    let group = groups.get(content.key);
    if (!group) {
      group = { ...content, members: [] };
      groups.set(content.key, group);
    }
    group.members.push({
      subscriberId: candidate.subscriberId,
      periodStart: candidate.periodStart,
      heldCampaignIds: candidate.heldCampaignIds ?? [],
    });
  }
  return [...groups.values()];
}

/** The subject line of a digest (of held-back alerts only, for a subscriber without digests). */
export function digestSubject(
  frequency: DigestFrequency,
  articleCount: number,
  heldOnly = false,
): string {
  const plural = articleCount === 1 ? 'story' : 'stories';
  if (heldOnly) return `Alerts held back for you: ${articleCount} ${plural}`;
  return `Your ${frequency} digest: ${articleCount} new ${plural}`;
}
