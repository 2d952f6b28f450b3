// Tags an article with catalogue topics: whole-word term matching, weighted by where the
// mentions are, with every concept a topic needs reaching its minimum strength.
import type { Catalogue, TopicRules } from './catalogue.ts';

/**
 * The text of an article that topic matching reads. A structural type of its own, so topics
 * sit below articles: an article (src/articles/schema.ts) is one of these as it is.
 */
export interface MatchableText {
  title: string;
  standfirst?: string;
  paragraphs: readonly string[];
  tags?: readonly string[];
}

/** Mentions count more in the title and lead than further down. */
export const WEIGHTS = { title: 3, lead: 2, body: 1 } as const;

interface WeightedText {
  text: string;
  weight: number;
}

/** The article's text in parts, each with the weight of a mention there. */
function partsOf(article: MatchableText): WeightedText[] {
  const [lead, ...rest] = article.paragraphs;
  const parts: WeightedText[] = [{ text: article.title, weight: WEIGHTS.title }];
  // The source's own tags (front matter `tags:`) are hints: each counts as one mention with
  // the title's weight. A middle dot between them keeps a phrase from spanning two tags.
  if (article.tags && article.tags.length > 0)
    parts.push({ text: article.tags.join(' · '), weight: WEIGHTS.title });
  if (article.standfirst) parts.push({ text: article.standfirst, weight: WEIGHTS.lead });
  if (lead) parts.push({ text: lead, weight: WEIGHTS.lead });
  for (const paragraph of rest) parts.push({ text: paragraph, weight: WEIGHTS.body });
  return parts;
}

const regexCache = new Map<string, RegExp>();

/** A global regex for a term: whole words, phrases over any whitespace, capitals-only terms exact. */
function termRegex(term: string): RegExp {
  let regex = regexCache.get(term);
  if (!regex) {
    const body = term
      .trim()
      .split(/\s+/)
      .map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('\\s+');
    // "US" or "BRI" in capitals is an acronym; in any case it would also match "us" or "bri".
    const acronym = /\p{Lu}/u.test(term) && !/\p{Ll}/u.test(term);
    // Next to a currency sign a country is a currency prefix ("US$100", "$US5", "HK$"), not
    // a mention of the country.
    regex = new RegExp(
      `(?<![\\p{L}\\p{N}\\p{Sc}])${body}(?![\\p{L}\\p{N}\\p{Sc}])`,
      acronym ? 'gu' : 'giu',
    );
    regexCache.set(term, regex);
  }
  regex.lastIndex = 0;
  return regex;
}

/**
 * How many times each term occurs in `text`, longer terms first and no span counted twice
 * ("Xi Jinping" counts once, not also as "Xi"). Terms that do not occur are left out.
 */
export function mentionsByTerm(text: string, terms: readonly string[]): Map<string, number> {
  // One flag per character taken by a counted mention: checking a span costs its length,
  // not the number of mentions so far (which made long texts quadratic).
  const taken = new Uint8Array(text.length);
  const counts = new Map<string, number>();
  const ordered = [...terms].sort((a, b) => b.length - a.length);
  for (const term of ordered) {
    for (const match of text.matchAll(termRegex(term))) {
      const start = match.index;
      const end = start + match[0].length;
      if (taken.subarray(start, end).includes(1)) continue;
      taken.fill(1, start, end);
      counts.set(term, (counts.get(term) ?? 0) + 1);
    }
  }
  return counts;
}

/** How many times the terms occur in `text`, longer terms first and no span counted twice. */
export function countMentions(text: string, terms: readonly string[]): number {
  let count = 0;
  for (const n of mentionsByTerm(text, terms).values()) count += n;
  return count;
}

/**
 * Every catalogue topic's strength in the article, whether or not it reaches the minimums:
 * the summed weighted mentions of the concepts it needs.
 */
export function topicStrengths(article: MatchableText, catalogue: Catalogue): Map<string, number> {
  const parts = partsOf(article);
  return new Map(
    catalogue.map((topic) => [topic.id, strengths(parts, topic.rules).reduce((a, b) => a + b, 0)]),
  );
}

/**
 * Orders chosen topic ids by their strength in the article, strongest first; ties keep the
 * order they were given in. Each gets a score that sorts the same way (stored with the topic).
 */
export function rankChosenTopics(
  article: MatchableText,
  topicIds: readonly string[],
  catalogue: Catalogue,
): Array<{ topicId: string; score: number }> {
  const strength = topicStrengths(article, catalogue);
  const ranked = topicIds
    .map((topicId, given) => ({ topicId, given, strength: strength.get(topicId) ?? 0 }))
    .sort((a, b) => b.strength - a.strength || a.given - b.given);
  return ranked.map((topic, rank) => ({ topicId: topic.topicId, score: ranked.length - rank }));
}

/** The weighted strength of each required concept of a rule in the article. */
function strengths(parts: readonly WeightedText[], rules: TopicRules): number[] {
  return rules.all.map((requirement) =>
    parts.reduce((sum, part) => sum + part.weight * countMentions(part.text, requirement.terms), 0),
  );
}

/**
 * The catalogue topics the article is about, strongest first. A topic matches when every
 * concept it needs reaches its minimum strength (and the balance between them, if asked);
 * its score is the summed strength of those concepts.
 */
export function matchTopics(
  article: MatchableText,
  catalogue: Catalogue,
): Array<{ topicId: string; score: number }> {
  const parts = partsOf(article);
  const matches: Array<{ topicId: string; score: number }> = [];
  for (const topic of catalogue) {
    const found = strengths(parts, topic.rules);
    const enough = topic.rules.all.every((requirement, i) => (found[i] ?? 0) >= requirement.min);
    if (!enough) continue;
    if (topic.rules.balance !== undefined) {
      const weakest = Math.min(...found);
      const strongest = Math.max(...found);
      if (strongest > 0 && weakest / strongest < topic.rules.balance) continue;
    }
    matches.push({ topicId: topic.id, score: found.reduce((a, b) => a + b, 0) });
  }
  return matches.sort((a, b) => b.score - a.score || a.topicId.localeCompare(b.topicId));
}

/** One concept of a topic's rule as found in an article: its strength and the terms that made it. */
export interface ConceptExplanation {
  concept: string;
  /** The strength the rule asks for. */
  min: number;
  /** Weighted mentions found (3 in the title or a tag, 2 in the lead, 1 below). */
  strength: number;
  /** The terms found, with their weighted strength, strongest first. */
  terms: Array<{ term: string; strength: number }>;
}

/** Why a topic is or is not tagged on an article. */
export interface TopicExplanation {
  topicId: string;
  /** Whether matchTopics tags it (every concept at its minimum, and the balance held). */
  matched: boolean;
  /** The summed strength of its concepts (the score it is stored with when tagged). */
  strength: number;
  concepts: ConceptExplanation[];
  /** The balance the rule asks for, and whether it held (null: the rule asks none). */
  balance: { required: number; held: boolean } | null;
}

/**
 * Explains matchTopics for every catalogue topic: which concepts reached their minimum, with
 * the matched terms, and whether the topic would be tagged. Reads only the article given.
 */
export function explainTopics(article: MatchableText, catalogue: Catalogue): TopicExplanation[] {
  const parts = partsOf(article);
  return catalogue.map((topic) => {
    const concepts = topic.rules.all.map((requirement) => {
      const byTerm = new Map<string, number>();
      for (const part of parts) {
        for (const [term, n] of mentionsByTerm(part.text, requirement.terms)) {
          byTerm.set(term, (byTerm.get(term) ?? 0) + n * part.weight);
        }
      }
      const terms = [...byTerm]
        .map(([term, strength]) => ({ term, strength }))
        .sort((a, b) => b.strength - a.strength || a.term.localeCompare(b.term));
      return {
        concept: requirement.concept,
        min: requirement.min,
        strength: terms.reduce((sum, t) => sum + t.strength, 0),
        terms,
      };
    });
    const found = concepts.map((c) => c.strength);
    const enough = concepts.every((c) => c.strength >= c.min);
    let balance: TopicExplanation['balance'] = null;
    if (topic.rules.balance !== undefined) {
      const strongest = Math.max(...found);
      const held = !(strongest > 0 && Math.min(...found) / strongest < topic.rules.balance);
      balance = { required: topic.rules.balance, held };
    }
    return {
      topicId: topic.id,
      matched: enough && (balance?.held ?? true),
      strength: found.reduce((a, b) => a + b, 0),
      concepts,
      balance,
    };
  });
}
