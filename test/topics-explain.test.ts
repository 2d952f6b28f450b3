// explainTopics (the console's "why these topics") must say exactly what matchTopics does: the
// same topics tagged with the same strengths, on every fixture article, and name the terms
// that made each concept's strength.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import { catalogueFromFile } from '../src/topics/catalogue.ts';
import { countMentions, explainTopics, matchTopics, mentionsByTerm } from '../src/topics/match.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/articles');

describe('explainTopics', () => {
  const catalogue = catalogueFromFile();

  it('agrees with matchTopics on every fixture article (topics and strengths)', () => {
    let checked = 0;
    for (const file of readdirSync(FIXTURES).filter((f) => /\.(txt|md|json|html)$/.test(f))) {
      const article = parseArticle({ body: readFileSync(join(FIXTURES, file)), filename: file });
      const matched = matchTopics(article, catalogue);
      const explained = explainTopics(article, catalogue);
      expect(explained.map((e) => e.topicId).sort(), file).toEqual(
        catalogue.map((t) => t.id).sort(),
      );
      expect(
        explained
          .filter((e) => e.matched)
          .map((e) => ({ topicId: e.topicId, score: e.strength }))
          .sort((a, b) => b.score - a.score || a.topicId.localeCompare(b.topicId)),
        file,
      ).toEqual(matched);
      for (const e of explained) {
        for (const concept of e.concepts) {
          // A concept's strength is the sum of its terms' strengths.
          expect(
            concept.terms.reduce((sum, t) => sum + t.strength, 0),
            `${file} ${e.topicId}`,
          ).toBe(concept.strength);
        }
      }
      checked += 1;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('names the matched terms with their weights, and says why a topic falls short', () => {
    const article = {
      title: 'Lavrov in Beijing',
      paragraphs: ['Sergei Lavrov met Wang Yi.', 'Moscow and Beijing talked trade.'],
    };
    const [relations] = explainTopics(
      article,
      catalogue.filter((t) => t.id === 'russia-china-relations'),
    );
    const russia = relations!.concepts.find((c) => c.concept === 'russia')!;
    // Title 3 ("Lavrov"), lead 2 ("Sergei Lavrov" once, not also as "Lavrov"), body 1 ("Moscow").
    expect(russia.terms).toEqual([
      { term: 'Lavrov', strength: 3 },
      { term: 'Sergei Lavrov', strength: 2 },
      { term: 'Moscow', strength: 1 },
    ]);
    expect(russia.strength).toBe(6);
    expect(relations!.matched).toBe(
      relations!.concepts.every((c) => c.strength >= c.min) && (relations!.balance?.held ?? true),
    );
  });

  it('counts mentions per term as countMentions counts them in total', () => {
    const text = 'Xi Jinping met Xi. XI and xi: Xi Jinping again.';
    const byTerm = mentionsByTerm(text, ['Xi', 'Xi Jinping']);
    expect(Object.fromEntries(byTerm)).toEqual({ 'Xi Jinping': 2, Xi: 3 });
    expect(countMentions(text, ['Xi', 'Xi Jinping'])).toBe(5);
  });
});
