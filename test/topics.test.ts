// Topic matching (pure) and the catalogue kept as data, seeded into the store on both dialects.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import type { Article } from '../src/articles/schema.ts';
import {
  catalogueFromFile,
  ensureCatalogue,
  loadCatalogue,
  parseCatalogueText,
  topicNames,
} from '../src/topics/catalogue.ts';
import {
  countMentions,
  matchTopics,
  rankChosenTopics,
  topicStrengths,
} from '../src/topics/match.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const parseFile = (path: string) => parseArticle({ body: readFileSync(path), filename: path });
const fixture = (name: string) => parseFile(resolve(repoRoot, 'test/fixtures/articles', name));
const catalogue = catalogueFromFile();
const ids = (article: Article) => matchTopics(article, catalogue).map((m) => m.topicId);

describe('matchTopics on the lavrov-china fixture', () => {
  const article = parseFile(resolve(repoRoot, 'test/fixtures/articles/lavrov-china.txt'));
  const topics = ids(article);

  it('tags the six topics the story is about', () => {
    expect([...topics].sort()).toEqual(
      [
        'belt-and-road',
        'china',
        'israel-gaza',
        'russia',
        'russia-china-relations',
        'ukraine-war',
      ].sort(),
    );
  });

  it('does not tag us-china-relations, technology, climate or economy', () => {
    for (const id of ['us-china-relations', 'technology', 'climate', 'economy'])
      expect(topics).not.toContain(id);
  });

  it('ranks russia-china-relations first with a positive score', () => {
    const [first] = matchTopics(article, catalogue);
    expect(first?.topicId).toBe('russia-china-relations');
    expect(first?.score).toBeGreaterThan(0);
  });
});

// Per fixture: topics it must get, and topics it must not.
const cases: Array<[string, string[], string[]]> = [
  [
    'china-economy.txt',
    ['china', 'economy'],
    ['russia-china-relations', 'russia', 'us-china-relations'],
  ],
  ['russia-ukraine.txt', ['russia', 'ukraine-war'], ['russia-china-relations', 'china']],
  ['us-china-trade.txt', ['us-china-relations', 'china'], ['russia-china-relations', 'russia']],
  ['climate-heat.txt', ['climate'], ['russia-china-relations', 'economy']],
  ['russia-china-summit.md', ['russia-china-relations', 'russia', 'china'], ['us-china-relations']],
  ['china-chips.md', ['technology', 'china'], ['russia-china-relations', 'russia']],
  ['us-china-tariffs.md', ['us-china-relations', 'china'], ['russia-china-relations']],
  ['china-property.json', ['economy', 'china'], ['russia-china-relations', 'russia']],
  ['power-of-siberia.json', ['russia-china-relations', 'russia', 'china'], ['ukraine-war']],
  ['gaza-ceasefire.json', ['israel-gaza'], ['russia-china-relations', 'ukraine-war']],
  ['bri-kazakhstan.json', ['belt-and-road', 'china'], ['russia-china-relations', 'russia']],
  ['lavrov-beijing.html', ['russia-china-relations', 'russia', 'china'], ['us-china-relations']],
  ['moscow-drones.html', ['russia', 'ukraine-war'], ['russia-china-relations', 'china']],
  [
    'us-china-talks.html',
    ['us-china-relations', 'china'],
    ['russia-china-relations', 'technology'],
  ],
  ['floods.html', ['climate'], ['russia-china-relations', 'economy']],
];

describe.each(cases)('matchTopics on %s', (file, expected, forbidden) => {
  const topics = ids(fixture(file));
  it(`tags ${expected.join(', ')}`, () => {
    for (const id of expected) expect(topics).toContain(id);
  });
  it(`does not tag ${forbidden.join(', ')}`, () => {
    for (const id of forbidden) expect(topics).not.toContain(id);
  });
});

describe('term matching', () => {
  it('matches whole words only, any case, phrases across whitespace', () => {
    expect(countMentions('Russians and RUSSIA; russia’s', ['Russia'])).toBe(2);
    expect(countMentions('Prussia is not Russia', ['Russia'])).toBe(1);
    expect(countMentions('the Belt and\n Road Initiative', ['Belt and Road'])).toBe(1);
  });

  it('matches capitals-only terms in capitals only', () => {
    expect(countMentions('Let us talk about the US economy', ['US'])).toBe(1);
    expect(countMentions('AI chips, not an ai typo', ['AI'])).toBe(1);
  });

  it('does not take a currency prefix for a country: US$100, $US5, HK$3 (issue 12)', () => {
    expect(countMentions('loans worth US$100 billion and $US5 million', ['US'])).toBe(0);
    expect(countMentions('HK$3 and the US, then US dollars', ['US', 'HK'])).toBe(2);
  });

  it('the Belt and Road story with "US$100 billion" is not a US-China relations story', () => {
    const bri = fixture('belt-road-loans.html');
    expect(bri.paragraphs.join(' ')).toContain('US$100 billion');
    expect(ids(bri)).toContain('belt-and-road');
    expect(topicStrengths(bri, catalogue).get('us-china-relations')).toBe(
      topicStrengths(
        { ...bri, paragraphs: bri.paragraphs.map((p) => p.replace('US$', '$')) },
        catalogue,
      ).get('us-china-relations'),
    );
    expect(ids(bri)).not.toContain('us-china-relations');
  });

  it('stays linear on a long text full of mentions (no quadratic overlap check)', () => {
    const text = 'China and Russia. '.repeat(20_000);
    expect(countMentions(text, ['China', 'Chinese', 'Russia'])).toBe(40_000);
  });

  it('counts a longer phrase once, not again as the shorter alias inside it', () => {
    expect(countMentions('Xi Jinping met Mr Xi', ['Xi', 'Xi Jinping'])).toBe(2);
    expect(countMentions('the Gaza Strip', ['Gaza', 'Gaza Strip'])).toBe(1);
  });

  it('needs every concept of a two-concept topic at its minimum strength', () => {
    const oneMention: Article = {
      title: 'China reports record harvest',
      paragraphs: [
        'China reported a record grain harvest, Beijing said, and Chinese farmers sold more abroad, including to Russia.',
      ],
      topics: [],
    };
    expect(ids(oneMention)).toContain('china');
    expect(ids(oneMention)).not.toContain('russia-china-relations');
  });

  it('front matter tags are hints: each counts as one title-weight mention', () => {
    const base: Article = {
      title: 'Talks in the capital',
      paragraphs: [
        'Officials met for two days of talks on energy and trade.',
        'A delegation from Moscow attended.',
      ],
      topics: [],
    };
    const hinted = { ...base, tags: ['Russia', 'energy'] };
    // A hint alone (3) is below the topic's minimum (4); with one mention in the body it is enough.
    expect(topicStrengths(base, catalogue).get('russia')).toBe(1);
    expect(topicStrengths(hinted, catalogue).get('russia')).toBe(4);
    expect(
      topicStrengths({ ...base, paragraphs: ['Talks.'], tags: ['Russia'] }, catalogue).get(
        'russia',
      ),
    ).toBe(3);
    expect(ids(base)).not.toContain('russia');
    expect(ids(hinted)).toContain('russia');
  });

  it('chosen topics are labelled by strength, not alphabetically; ties keep the given order', () => {
    const summit = fixture('russia-china-summit.md');
    const ranked = rankChosenTopics(summit, ['china', 'russia-china-relations'], catalogue);
    expect(ranked.map((r) => r.topicId)).toEqual(['russia-china-relations', 'china']);
    expect(ranked[0]!.score).toBeGreaterThan(ranked[1]!.score);
    const none = rankChosenTopics(summit, ['climate', 'technology'], catalogue);
    expect(none.map((r) => r.topicId)).toEqual(['climate', 'technology']);
  });

  it('a topic with balance is refused when one side is far weaker', () => {
    const [topic] = parseCatalogueText(`
concepts:
  a: [alpha]
  b: [beta]
topics:
  - id: a-b
    name: A and B
    rules:
      all: [{ concept: a, min: 1 }, { concept: b, min: 1 }]
      balance: 0.5
`);
    const article = (text: string): Article => ({
      title: 'x',
      paragraphs: ['-', text],
      topics: [],
    });
    expect(matchTopics(article('alpha alpha alpha beta'), [topic!])).toEqual([]);
    expect(matchTopics(article('alpha alpha beta beta'), [topic!])).toEqual([
      { topicId: 'a-b', score: 4 },
    ]);
  });
});

describe('the catalogue file', () => {
  it('holds the topics the issue asks for, with concepts resolved to terms', () => {
    const byId = new Map(catalogue.map((t) => [t.id, t]));
    for (const id of [
      'russia-china-relations',
      'russia',
      'china',
      'ukraine-war',
      'israel-gaza',
      'belt-and-road',
      'us-china-relations',
      'economy',
      'technology',
      'climate',
    ]) {
      expect(byId.has(id)).toBe(true);
    }
    const rcr = byId.get('russia-china-relations')!;
    expect(rcr.name).toBe('Russia-China relations');
    expect(rcr.rules.all.map((r) => r.concept)).toEqual(['russia', 'china']);
    expect(rcr.rules.all[0]?.terms).toEqual(
      expect.arrayContaining(['Russia', 'Moscow', 'Kremlin', 'Putin', 'Lavrov']),
    );
    expect(rcr.rules.all[1]?.terms).toEqual(
      expect.arrayContaining(['China', 'Chinese', 'Beijing', 'Xi Jinping']),
    );
  });

  it('refuses an unknown concept, a duplicate id and a bad id, naming them', () => {
    expect(() =>
      parseCatalogueText('topics:\n  - { id: x, name: X, rules: { all: [{ concept: nope }] } }\n'),
    ).toThrow(/unknown concept nope/);
    expect(() =>
      parseCatalogueText(
        'topics:\n  - { id: x, name: X, rules: { all: [{ terms: [a] }] } }\n  - { id: x, name: Y, rules: { all: [{ terms: [b] }] } }\n',
      ),
    ).toThrow(/duplicate topic id x/);
    expect(() =>
      parseCatalogueText(
        'topics:\n  - { id: "Not An Id", name: X, rules: { all: [{ terms: [a] }] } }\n',
      ),
    ).toThrow(/lower-case words joined by hyphens/);
  });
});

describe.each(DIALECTS)('the catalogue in the store (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('seeds an empty topics table from the file, once', async () => {
    const loaded = await loadCatalogue(t.store.db);
    expect(loaded.map((topic) => topic.id)).toEqual(catalogue.map((topic) => topic.id).sort());
    expect(loaded.find((topic) => topic.id === 'russia-china-relations')).toEqual(
      catalogue.find((topic) => topic.id === 'russia-china-relations'),
    );
    await ensureCatalogue(t.store.db);
    const count = await t.store.db
      .selectFrom('topics')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(catalogue.length);
  });

  it('keeps an edited row and adds topics new to the file', async () => {
    await t.store.db
      .updateTable('topics')
      .set({ name: 'Russia & China' })
      .where('id', '=', 'russia-china-relations')
      .execute();
    const extra = parseCatalogueText(
      'topics:\n  - { id: space, name: Space, rules: { all: [{ terms: [NASA, rocket], min: 2 }] } }\n',
    );
    await ensureCatalogue(t.store.db, [...catalogue, ...extra]);
    const names = await topicNames(t.store.db, ['russia-china-relations', 'space', 'nope']);
    expect(names).toEqual({ 'russia-china-relations': 'Russia & China', space: 'Space' });
  });
});
