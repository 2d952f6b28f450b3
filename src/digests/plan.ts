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
}

export interface DigestGroup {
  /** Identity of the content: frequency, article ids, topic headings. */
  key: string;
  frequency: DigestFrequency;
  articles: StoredArticle[];
  /** Topic headings in order: the followed topics that tag an article, freshest first. */
  topics: string[];
  members: Array<{ subscriberId: number; periodStart: Date }>;
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

/** Groups candidates with new articles by identical digest content; those without are dropped. */
export function groupDigests(candidates: readonly DigestCandidate[]): DigestGroup[] {
  const groups = new Map<string, DigestGroup>();
  for (const candidate of candidates) {
    if (candidate.articles.length === 0) continue;
    const topics = digestTopics(candidate.topics, candidate.articles);
    const key = JSON.stringify([
      candidate.frequency,
      candidate.articles.map((article) => article.id),
      topics,
    ]);
    let group = groups.get(key);
    if (!group) {
      group = {
        key,
        frequency: candidate.frequency,
        articles: [...candidate.articles],
        topics,
        members: [],
      };
      groups.set(key, group);
    }
    group.members.push({
      subscriberId: candidate.subscriberId,
      periodStart: candidate.periodStart,
    });
  }
  return [...groups.values()];
}

/** The subject line of a digest. */
export function digestSubject(frequency: DigestFrequency, articleCount: number): string {
  const plural = articleCount === 1 ? 'story' : 'stories';
  return `Your ${frequency} digest: ${articleCount} new ${plural}`;
}
