// Article parsing: the shared fixture field by field, our own articles in every format, bad input.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArticleInputError, detectFormat, parseArticle } from '../src/articles/parse.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const LAVROV = resolve(repoRoot, 'test/fixtures/articles/lavrov-china.txt');
const fixture = (name: string) => resolve(repoRoot, 'test/fixtures/articles', name);
const parseFile = (path: string) => parseArticle({ body: readFileSync(path), filename: path });

/** Runs `fn` and returns the ArticleInputError it throws (fails the test otherwise). */
function inputError(fn: () => unknown): ArticleInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ArticleInputError);
    return error as ArticleInputError;
  }
  throw new Error('expected an ArticleInputError');
}

describe('the lavrov-china fixture (plain text scraped from a page)', () => {
  const article = parseFile(LAVROV);

  it('takes the title from the first line', () => {
    expect(article.title).toBe('Russia’s top diplomat Lavrov in China ahead of Putin visit');
  });

  it('re-joins the first sentence the page broke over three blocks', () => {
    expect(article.paragraphs[0]).toBe(
      'Russia’s top diplomat Sergei Lavrov arrived in Beijing on Monday ahead of an expected visit by President Vladimir Putin to China, for a gathering of representatives of 130 countries that will be overshadowed by the Israel-Gaza war.',
    );
    expect(article.paragraphs[1]).toBe(
      'This will be Mr Putin’s first trip to a major global power since the Ukraine invasion.',
    );
    expect(article.paragraphs).toContain(
      'Mr Putin last week voiced concern at the “catastrophic increase” in the number of civilian victims in Israel and the Gaza Strip.',
    );
  });

  it('drops the page furniture and keeps photo lines out of the body', () => {
    for (const paragraph of article.paragraphs) {
      for (const furniture of [
        'Sign up now',
        'Follow topic',
        'See more on',
        'PHOTO:',
        'Photo by',
      ]) {
        expect(paragraph).not.toContain(furniture);
      }
    }
    expect(article.paragraphs).not.toContain(
      'Mr Sergei Lavrov was in the Chinese capital as part of a Russian delegation.',
    );
    expect(article.paragraphs).toHaveLength(18);
  });

  it('ends with "Abiy Ahmed." and takes the AFP tag as source', () => {
    expect(article.paragraphs.at(-1)).toBe(
      'Among them are Hungarian Prime Minister Viktor Orban, Chilean President Gabriel Boric, Kenyan President William Ruto and Ethiopian Prime Minister Abiy Ahmed.',
    );
    expect(article.source).toBe('AFP');
  });

  it('puts both photo lines in image', () => {
    expect(article.image).toEqual({
      alt: "Russia's Foreign Minister Sergei Lavrov attends a meeting of presidents of Russia and Kyrgyzstan in Bishkek on October 12, 2023.",
      caption: 'Mr Sergei Lavrov was in the Chinese capital as part of a Russian delegation.',
      credit: 'VYACHESLAV OSELEDKO / AFP',
    });
  });

  it('has no fields the page does not give, and no topics before matching', () => {
    expect(article.standfirst).toBeUndefined();
    expect(article.byline).toBeUndefined();
    expect(article.url).toBeUndefined();
    expect(article.publishedAt).toBeUndefined();
    expect(article.topics).toEqual([]);
  });
});

describe('plain text articles of our own', () => {
  it('china-economy: joins the broken sentence, drops furniture, takes Reuters', () => {
    const a = parseFile(fixture('china-economy.txt'));
    expect(a.title).toBe("China's economy grows more slowly than expected as property slump drags");
    expect(a.paragraphs[0]).toBe(
      "China's economy grew 4.6 per cent in the third quarter, official data showed on Wednesday, as a long slump in the property market weighed on consumer spending.",
    );
    expect(a.paragraphs.at(-1)).toBe(
      'Beijing has set a growth target of around 5 per cent for the year.',
    );
    expect(a.paragraphs.join(' ')).not.toMatch(/Sign up|See more/);
    expect(a.source).toBe('Reuters');
  });

  it('russia-ukraine: photo description into image, a lone agency line as source', () => {
    const a = parseFile(fixture('russia-ukraine.txt'));
    expect(a.image).toEqual({
      alt: 'Residents shelter in a metro station in Kyiv on March 3.',
      credit: 'SERGEI SUPINSKY / AFP',
    });
    expect(a.paragraphs[0]).toBe(
      "Ukraine's air force said it shot down 40 of 47 drones launched by Russia overnight, as Moscow pressed its offensive in the east.",
    );
    expect(a.paragraphs.at(-1)).toBe(
      'The war, now in its third year, shows no sign of a ceasefire.',
    );
    expect(a.source).toBe('AP');
    expect(a.paragraphs.join(' ')).not.toContain('Follow topic');
  });

  it('us-china-trade: a "By" line becomes the byline; no agency, no source', () => {
    const a = parseFile(fixture('us-china-trade.txt'));
    expect(a.byline).toBe('Jane Doe');
    expect(a.paragraphs).toHaveLength(5);
    expect(a.paragraphs[0]).toMatch(/^The United States will quadruple tariffs/);
    expect(a.source).toBeUndefined();
  });

  it('climate-heat: a caption with "PHOTO: Reuters" on the same line goes to image', () => {
    const a = parseFile(fixture('climate-heat.txt'));
    expect(a.image).toEqual({
      caption: 'Firefighters tackle a wildfire near Athens.',
      credit: 'Reuters',
    });
    expect(a.paragraphs).toHaveLength(4);
    expect(a.paragraphs.join(' ')).not.toMatch(/Share this|PHOTO/);
    expect(a.paragraphs.at(-1)).toBe(
      "Renewables now supply almost half of the European Union's electricity.",
    );
    expect(a.source).toBe('Reuters');
  });
});

describe('Markdown with YAML front matter', () => {
  it('russia-china-summit: every front-matter field, Markdown marks removed', () => {
    const a = parseFile(fixture('russia-china-summit.md'));
    expect(a.title).toBe('Xi and Putin pledge "no limits" partnership at Moscow summit');
    expect(a.standfirst).toBe(
      'The Chinese and Russian leaders met in the Kremlin for two days of talks.',
    );
    expect(a.url).toBe('https://news.example/world/xi-putin-moscow-summit');
    expect(a.publishedAt).toBe('2024-03-21T09:30:00.000Z');
    expect(a.source).toBe('Reuters');
    expect(a.byline).toBe('Anna Petrova');
    expect(a.image).toEqual({
      url: 'https://news.example/img/xi-putin.jpg',
      caption: 'Xi Jinping and Vladimir Putin in Moscow.',
      credit: 'Reuters',
    });
    expect(a.paragraphs[0]).toBe(
      'Chinese President Xi Jinping and Russian President Vladimir Putin pledged on Tuesday to deepen their partnership, as Beijing and Moscow grow closer in the face of Western pressure.',
    );
    expect(a.paragraphs).toContain('A growing partnership');
    expect(a.topics).toEqual([]);
  });

  it('china-chips: a heading repeating the title is not body text', () => {
    const a = parseFile(fixture('china-chips.md'));
    expect(a.title).toBe('China pours billions into chip industry');
    expect(a.paragraphs[0]).toMatch(/^China will invest a further \$47 billion/);
    expect(a.paragraphs).toHaveLength(4);
  });

  it('ukraine-frontline: topics written as "a; b" and a bare date', () => {
    const a = parseFile(fixture('ukraine-frontline.md'));
    expect(a.topics).toEqual(['ukraine-war', 'russia']);
    expect(a.publishedAt).toBe('2024-05-20T00:00:00.000Z');
    expect(a.paragraphs).toHaveLength(2);
  });

  it('us-china-tariffs: title from the # heading, image from ![](), emphasis and agency tag', () => {
    const a = parseFile(fixture('us-china-tariffs.md'));
    expect(a.title).toBe('US and China agree to pause tariff increases');
    expect(a.image).toEqual({
      alt: 'Container ships at a port in Shanghai',
      url: 'https://news.example/img/port.jpg',
      caption: 'Containers in Shanghai',
    });
    expect(a.paragraphs.at(-1)).toBe(
      "China's vice-premier said the talks were candid and constructive.",
    );
    expect(a.source).toBe('AFP');
    expect(a.url).toBe('https://news.example/business/us-china-tariffs');
  });
});

describe('JSON matching the Article schema', () => {
  it('china-property: all fields as given', () => {
    const a = parseFile(fixture('china-property.json'));
    expect(a.title).toBe("China's property slump deepens as home sales fall again");
    expect(a.standfirst).toBe('New home prices fell for the 15th month, weighing on the economy.');
    expect(a.paragraphs).toHaveLength(4);
    expect(a.source).toBe('Bloomberg');
    expect(a.publishedAt).toBe('2024-09-15T02:00:00Z');
  });

  it('power-of-siberia: image and an offset timestamp', () => {
    const a = parseFile(fixture('power-of-siberia.json'));
    expect(a.image).toEqual({
      url: 'https://news.example/img/pipeline.jpg',
      caption: 'A Gazprom pipeline.',
      credit: 'Reuters',
    });
    expect(a.publishedAt).toBe('2024-06-06T08:00:00+03:00');
  });

  it('gaza-ceasefire and bri-kazakhstan: minimal articles', () => {
    expect(parseFile(fixture('gaza-ceasefire.json')).paragraphs).toHaveLength(3);
    const bri = parseFile(fixture('bri-kazakhstan.json'));
    expect(bri.title).toBe('Belt and Road rail link opens in Kazakhstan');
    expect(bri.topics).toEqual([]);
  });

  it('is picked by content type even without a file name', () => {
    const a = parseArticle({
      body: JSON.stringify({ title: 'T', paragraphs: ['One.'] }),
      contentType: 'application/json; charset=utf-8',
    });
    expect(a).toEqual({ title: 'T', paragraphs: ['One.'], topics: [] });
  });
});

describe('HTML pages (Readability over linkedom)', () => {
  it('lavrov-beijing: meta fields, figure into image, furniture and agency out', () => {
    const a = parseFile(fixture('lavrov-beijing.html'));
    expect(a.title).toBe('Lavrov meets Wang Yi in Beijing to prepare Putin visit');
    expect(a.url).toBe('https://news.example/world/lavrov-wang-yi');
    expect(a.publishedAt).toBe('2024-04-08T22:15:00.000Z');
    expect(a.image).toEqual({
      url: 'https://news.example/img/lavrov-wang.jpg',
      alt: 'Sergei Lavrov and Wang Yi shake hands',
      caption:
        'Russian Foreign Minister Sergei Lavrov with Chinese Foreign Minister Wang Yi in Beijing.',
      credit: 'AFP',
    });
    expect(a.paragraphs[0]).toMatch(/^Russian Foreign Minister Sergei Lavrov held talks/);
    expect(a.paragraphs.at(-1)).toBe('Trade between the two countries reached a record last year.');
    expect(a.source).toBe('AFP');
    const body = a.paragraphs.join(' ');
    for (const furniture of [
      'Sign up now',
      'Follow topic',
      'See more on',
      'PHOTO',
      'Home',
      'Copyright',
    ]) {
      expect(body).not.toContain(furniture);
    }
  });

  it('moscow-drones: canonical url, byline, a lone "Reuters" paragraph as source', () => {
    const a = parseFile(fixture('moscow-drones.html'));
    expect(a.title).toBe('Ukrainian drones hit Moscow region, Russia says');
    expect(a.url).toBe('https://news.example/world/moscow-drones');
    expect(a.byline).toBe('Ivan Sokolov');
    expect(a.source).toBe('Reuters');
    expect(a.paragraphs).toHaveLength(4);
    expect(a.paragraphs.join(' ')).not.toContain('By Ivan');
  });

  it('us-china-talks: og:image, no share bar', () => {
    const a = parseFile(fixture('us-china-talks.html'));
    expect(a.image).toEqual({ url: 'https://news.example/img/london-talks.jpg' });
    expect(a.publishedAt).toBe('2025-06-10T12:00:00.000Z');
    expect(a.paragraphs).toHaveLength(4);
    expect(a.paragraphs.join(' ')).not.toContain('Share');
  });

  it('floods: drops an "Advertisement" block', () => {
    const a = parseFile(fixture('floods.html'));
    expect(a.paragraphs).toHaveLength(4);
    expect(a.paragraphs.join(' ')).not.toContain('Advertisement');
    expect(a.source).toBe('Reuters');
  });
});

describe('format detection', () => {
  it('prefers the content type, then the extension, then the text', () => {
    expect(detectFormat('{}', 'a.txt', 'text/html')).toBe('html');
    expect(detectFormat('{}', 'a.md')).toBe('markdown');
    expect(detectFormat('{"title":"x"}')).toBe('json');
    expect(detectFormat('---\ntitle: x\n---\nBody.')).toBe('markdown');
    expect(detectFormat('<!doctype html><p>x</p>')).toBe('html');
    expect(detectFormat('Title\n\nBody.')).toBe('text');
  });
});

describe('bad input names the problem', () => {
  it('an empty or blank file', () => {
    const error = inputError(() => parseArticle({ body: Buffer.alloc(0), filename: 'a.txt' }));
    expect(error.field).toBe('body');
    expect(error.message).toMatch(/empty/);
    expect(inputError(() => parseArticle({ body: ' \n\n \t\n' })).message).toMatch(/empty/);
  });

  it('binary data', () => {
    const png = Buffer.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0xff, 0xfe,
    ]);
    const error = inputError(() => parseArticle({ body: png, filename: 'photo.txt' }));
    expect(error.field).toBe('body');
    expect(error.message).toMatch(/binary/);
    expect(inputError(() => parseArticle({ body: 'Title\n\nBody\u0000 text.' })).message).toMatch(
      /binary/,
    );
  });

  it('a body over 2 MB', () => {
    const big = `Title\n\n${'A sentence. '.repeat(200_000)}`;
    const error = inputError(() => parseArticle({ body: big }));
    expect(error.field).toBe('body');
    expect(error.message).toMatch(/limit is 2 MB/);
  });

  it('no title', () => {
    const json = inputError(() =>
      parseArticle({ body: '{"paragraphs":["One."]}', filename: 'a.json' }),
    );
    expect(json.field).toBe('title');
    expect(json.message).toMatch(/no title/);
    const md = inputError(() =>
      parseArticle({ body: '---\nsource: AFP\n---\n\nJust a paragraph.\n', filename: 'a.md' }),
    );
    expect(md.field).toBe('title');
    const html = inputError(() =>
      parseArticle({
        body: '<html><body><p>Nothing else.</p></body></html>',
        contentType: 'text/html',
      }),
    );
    expect(html.field).toBe('title');
  });

  it('invalid JSON, and JSON that is not an article', () => {
    const error = inputError(() => parseArticle({ body: '{"title": "x",', filename: 'a.json' }));
    expect(error.field).toBe('body');
    expect(error.message).toMatch(/not valid JSON/);
    const noParagraphs = inputError(() =>
      parseArticle({ body: '{"title":"T","paragraphs":[]}', filename: 'a.json' }),
    );
    expect(noParagraphs.field).toBe('paragraphs');
    expect(noParagraphs.message).toMatch(/at least one paragraph/);
    const badDate = inputError(() =>
      parseArticle({
        body: '{"title":"T","paragraphs":["P."],"publishedAt":"yesterday"}',
        filename: 'a.json',
      }),
    );
    expect(badDate.field).toBe('publishedAt');
  });

  it('a title with no body', () => {
    const error = inputError(() => parseArticle({ body: 'Only a title\n', filename: 'a.txt' }));
    expect(error.field).toBe('paragraphs');
  });

  it('broken front matter', () => {
    const error = inputError(() =>
      parseArticle({ body: '---\ntitle: [unclosed\n---\nBody.\n', filename: 'a.md' }),
    );
    expect(error.field).toBe('front matter');
  });
});

describe('byline rule', () => {
  it('takes capitalised names only', () => {
    expect(parseArticle({ body: 'T\n\nBy Jane van Dijk\n\nBody text.' }).byline).toBe(
      'Jane van Dijk',
    );
    const notByline = parseArticle({ body: 'T\n\nBy the end of the day.\n\nBody text.' });
    expect(notByline.byline).toBeUndefined();
    expect(notByline.paragraphs[0]).toBe('By the end of the day.');
  });
});

describe('the block model (issue 12, "Articles")', () => {
  it('Markdown keeps its structure: subheadings, lists, a quote with its source, an image', () => {
    const a = parseFile(fixture('china-ev-exports.md'));
    expect(a.blocks).toEqual([
      {
        type: 'paragraph',
        text: 'Chinese carmakers shipped a record number of electric vehicles to Europe in June, racing to beat provisional EU duties that took effect on Friday.',
      },
      { type: 'heading', level: 2, text: 'What the duties are' },
      {
        type: 'paragraph',
        text: 'The European Commission set extra duties for each maker it investigated:',
      },
      {
        type: 'list',
        ordered: false,
        items: ['BYD: 17.4 per cent', 'Geely: 19.9 per cent', 'SAIC: 37.6 per cent'],
      },
      {
        type: 'quote',
        text: 'We will take all necessary measures to defend the rights of Chinese companies.',
        cite: "China's commerce ministry",
      },
      {
        type: 'image',
        url: 'https://news.example/img/byd-ship.jpg',
        alt: 'A BYD car on a ship',
        caption: 'BYD cars bound for Europe',
      },
      { type: 'heading', level: 3, text: 'What happens next' },
      {
        type: 'list',
        ordered: true,
        items: [
          'EU member states vote on final duties by November.',
          'Beijing and Brussels keep talking.',
        ],
      },
      {
        type: 'paragraph',
        text: 'Exports of Chinese electric cars to the EU rose 40 per cent last year.',
      },
    ]);
    // `paragraphs` is the text of every block in order, list items one by one.
    expect(a.paragraphs).toHaveLength(11);
    expect(a.paragraphs[3]).toBe('BYD: 17.4 per cent');
  });

  it('Markdown loses its page furniture like text does: sign-up line, byline, follow line, agency', () => {
    const a = parseFile(fixture('china-ev-exports.md'));
    const body = a.paragraphs.join(' ');
    expect(body).not.toMatch(/Sign up|Follow topic|By Mei Chen|AFP/);
    expect(a.byline).toBe('Mei Chen');
    expect(a.source).toBe('AFP');
    expect(a.publishedAt).toBe('2024-07-04T06:00:00.000Z');
  });

  it('Markdown front matter `tags:` come through as tags (topic hints), not as topics', () => {
    const a = parseFile(fixture('china-ev-exports.md'));
    expect(a.tags).toEqual(['China', 'electric vehicles', 'EU', 'trade']);
    expect(a.topics).toEqual([]);
    const listed = parseArticle({
      body: '---\ntitle: T\ntags: Russia; China\n---\n\nBody.\n',
      filename: 'a.md',
    });
    expect(listed.tags).toEqual(['Russia', 'China']);
  });

  it('plain text: a byline with a role and a dateline stay out of the first paragraph', () => {
    const a = parseFile(fixture('beijing-drought.txt'));
    expect(a.byline).toBe('Zhang Wei');
    expect(a.paragraphs[0]).toBe(
      'Reservoirs across Sichuan and Yunnan fell to their lowest level in a decade this week, cutting hydropower output and forcing factories to close.',
    );
    expect(a.paragraphs.join(' ')).not.toMatch(/Zhang Wei|Published/);
    expect(a.blocks).toEqual(a.paragraphs.map((text) => ({ type: 'paragraph', text })));
  });

  it('plain text bylines: several names, "in" a place, capitals; a sentence is not a byline', () => {
    const byline = (line: string) =>
      parseArticle({ body: `T\n\n${line}\n\nBody text.`, contentType: 'text/plain' }).byline;
    expect(byline('By Jane Doe and John Roe')).toBe('Jane Doe and John Roe');
    expect(byline('By JANE DOE in Kyiv')).toBe('JANE DOE');
    expect(byline('By Jane Doe | Reuters')).toBe('Jane Doe');
    expect(byline('By Jane Doe 12 May 2024')).toBe('Jane Doe');
    expect(byline('By Friday, the government will decide.')).toBeUndefined();
    expect(byline('By the end of the day.')).toBeUndefined();
  });

  it('HTML: og:description as standfirst, byline out of the body, structure kept', () => {
    const a = parseFile(fixture('belt-road-loans.html'));
    expect(a.standfirst).toBe(
      "China's Belt and Road lending rose for the first time in five years, led by ports and railways in Africa.",
    );
    expect(a.byline).toBe('Amara Okafor and Li Na');
    expect(a.paragraphs[0]).toMatch(/^Chinese lending under the Belt and Road Initiative/);
    expect(a.paragraphs.join(' ')).not.toContain('Amara');
    expect(a.image).toEqual({
      url: 'https://news.example/img/mombasa.jpg',
      alt: 'Cranes at the port of Mombasa',
      caption: 'The port of Mombasa, Kenya.',
      credit: 'Reuters',
    });
    expect(a.blocks?.map((block) => block.type)).toEqual([
      'paragraph',
      'paragraph',
      'heading',
      'list',
      'quote',
      'paragraph',
    ]);
    expect(a.blocks?.[4]).toEqual({
      type: 'quote',
      text: 'The Belt and Road is back, but smaller and more careful.',
      cite: 'Chen Yu, Boston University',
    });
  });

  it('HTML: meta description when there is no og:description; none when it repeats the lead', () => {
    const page = (meta: string) =>
      `<html><head><title>Title here</title>${meta}</head><body><article><h1>Title here</h1><p>The lead paragraph of the story, long enough for Readability to keep it as content.</p><p>A second paragraph that also carries enough text to be part of the article body.</p></article></body></html>`;
    const described = parseArticle({
      body: page('<meta name="description" content="A summary written by the desk.">'),
      contentType: 'text/html',
    });
    expect(described.standfirst).toBe('A summary written by the desk.');
    const repeated = parseArticle({
      body: page('<meta name="description" content="The lead paragraph of the story, long…">'),
      contentType: 'text/html',
    });
    expect(repeated.standfirst).toBeUndefined();
  });

  it('JSON may bring blocks alone: paragraphs are their text; bad blocks name the field', () => {
    const a = parseArticle({
      body: JSON.stringify({
        title: 'T',
        blocks: [
          { type: 'heading', level: 2, text: 'H' },
          { type: 'list', ordered: true, items: ['one', 'two'] },
        ],
      }),
      contentType: 'application/json',
    });
    expect(a.paragraphs).toEqual(['H', 'one', 'two']);
    const error = inputError(() =>
      parseArticle({
        body: JSON.stringify({ title: 'T', paragraphs: ['P.'], blocks: [{ type: 'video' }] }),
        contentType: 'application/json',
      }),
    );
    expect(error.field).toMatch(/^blocks/);
  });
});
