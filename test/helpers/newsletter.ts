// Test articles for the template and message suites, one built from the real fixture.
import { readFileSync } from 'node:fs';
import type { StoredArticle } from '../../src/articles/schema.ts';
import { type Config, parseConfig } from '../../src/config/index.ts';
import type { NewsletterInput } from '../../src/templates/index.ts';

/** The Lavrov fixture hand-cleaned into an Article (as the ingest parser should produce). */
export function fixtureArticle(id = 1): StoredArticle {
  const raw = readFileSync(
    new URL('../fixtures/articles/lavrov-china.txt', import.meta.url),
    'utf8',
  );
  const blocks = raw
    .split(/\n\s*\n/)
    .map((b) => b.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
  const title = blocks[0]!;
  const start = blocks.findIndex((b) => b.startsWith('Follow topic'));
  const body: string[] = [];
  for (const block of blocks.slice(start + 1)) {
    if (block.startsWith('See more on')) break;
    // Sentences broken across blank lines: join a block that does not end a sentence.
    const prev = body[body.length - 1];
    if (prev !== undefined && !/[.!?”"]$/.test(prev)) body[body.length - 1] = `${prev} ${block}`;
    else body.push(block);
  }
  const last = body.length - 1;
  body[last] = body[last]!.replace(/\s*AFP$/, '');
  return {
    id,
    title,
    paragraphs: body,
    image: {
      caption: 'Mr Sergei Lavrov was in the Chinese capital as part of a Russian delegation.',
      credit: 'AFP',
    },
    source: 'AFP',
    url: 'https://www.example.com/world/lavrov-in-china',
    topics: ['russia-china'],
  };
}

/** A second, short article for digests. */
export function shortArticle(id = 2, title = 'Xi hosts Belt and Road forum'): StoredArticle {
  return {
    id,
    title,
    standfirst: 'Leaders from 130 countries gather in Beijing for the summit.',
    paragraphs: ['Beijing is hosting representatives of 130 countries this week.'],
    topics: ['china'],
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({
    PUBLIC_URL: 'https://news.example.com',
    MAIL_FROM: 'Herald News <newsletter@news.example.com>',
    HERALD_SECRET: 'newsletter-test-secret-0123456789-abc',
    POSTAL_ADDRESS: 'Herald Newsroom, 1 Example Street, 00000 Example City',
    ...overrides,
  });
}

export function alertInput(article = fixtureArticle()): NewsletterInput {
  return {
    template: 'alert',
    subject: article.title,
    groups: [{ topicId: 'russia-china', topicName: 'Russia-China relations', articles: [article] }],
  };
}

export function digestInput(): NewsletterInput {
  return {
    template: 'digest',
    subject: 'Your daily digest: Russia-China relations and China',
    groups: [
      {
        topicId: 'russia-china',
        topicName: 'Russia-China relations',
        articles: [fixtureArticle()],
      },
      {
        topicId: 'china',
        topicName: 'China',
        articles: [shortArticle(), shortArticle(3, 'Chinese imports of Russian oil soar')],
      },
    ],
  };
}

/** The fixture with a photo and a body using every block type (as the parsers may fill it). */
export function blocksArticle(id = 4): StoredArticle {
  const base = fixtureArticle(id);
  const [first, second, third] = base.paragraphs;
  return {
    ...base,
    byline: 'Jane Doe',
    standfirst: 'The foreign minister prepares the ground for a state visit by Vladimir Putin.',
    image: {
      url: 'https://img.example.com/lavrov.jpg',
      alt: 'Sergei Lavrov at the airport in Beijing',
      caption: 'Mr Sergei Lavrov was in the Chinese capital.',
      credit: 'AFP',
    },
    blocks: [
      { type: 'paragraph', text: first! },
      { type: 'heading', level: 2, text: 'A visit long in the making' },
      { type: 'paragraph', text: second! },
      { type: 'list', ordered: false, items: ['Energy deals', 'Security in Central Asia'] },
      { type: 'list', ordered: true, items: ['Arrival', 'Forum', 'Talks'] },
      { type: 'quote', text: 'Our relations are at their best in history.', cite: 'Sergei Lavrov' },
      {
        type: 'image',
        url: 'https://img.example.com/square.jpg',
        alt: 'Tiananmen Square',
        caption: 'Tiananmen Square.',
        credit: 'Reuters',
      },
      { type: 'heading', level: 3, text: 'What comes next' },
      { type: 'paragraph', text: third! },
    ],
  };
}
