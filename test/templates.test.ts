// Templates: strict MJML, escaping, compile-once cache, text part, personalisation.
import mjml2html from 'mjml';
import { describe, expect, it } from 'vitest';
import {
  compileNewsletter,
  htmlToText,
  type NewsletterInput,
  renderMjml,
  templateNames,
} from '../src/templates/index.ts';
import {
  createPersonaliser,
  displayName,
  joinNames,
  wrapLine,
} from '../src/templates/personalise.ts';
import {
  alertInput,
  blocksArticle,
  digestInput,
  fixtureArticle,
  shortArticle,
  testConfig,
} from './helpers/newsletter.ts';

const config = testConfig();
const vars = {
  name: 'Anna',
  followedTopicNames: ['Russia-China relations'],
  unsubscribeUrl: 'https://news.example.com/unsubscribe?token=aa.bb',
  preferencesUrl: 'https://news.example.com/preferences?token=cc.dd',
};

/** Inputs covering both layouts and the optional parts (image with URL, no URL, no image). */
function variants(): NewsletterInput[] {
  const withImage = {
    ...fixtureArticle(),
    image: {
      url: 'https://img.example.com/lavrov.jpg',
      caption: 'Lavrov in Beijing',
      credit: 'AFP',
    },
  };
  const bare = { ...shortArticle(), url: undefined, standfirst: undefined };
  return [
    alertInput(),
    alertInput(withImage),
    alertInput(bare),
    digestInput(),
    {
      ...digestInput(),
      groups: [{ topicId: 'c', topicName: 'China', articles: [withImage, bare] }],
    },
  ];
}

describe('MJML templates', () => {
  it('covers both layouts', () => {
    expect(templateNames).toEqual(['alert', 'digest']);
    expect(new Set(variants().map((v) => v.template))).toEqual(new Set(templateNames));
  });

  it.each(variants().map((v, i) => [i, v] as const))(
    'variant %i passes validationLevel strict with no errors',
    async (_i, input) => {
      const result = await mjml2html(renderMjml(input, config), { validationLevel: 'strict' });
      expect(result.errors).toEqual([]);
      expect(result.html).toContain('<!doctype html>');
    },
  );

  it('strict validation does reject a broken template (the check above can fail)', async () => {
    const broken = renderMjml(alertInput(), config).replace(
      '<mj-divider css-class="hd-rule" border-width="3px"',
      '<mj-divider css-class="hd-rule" border-widht="3px"',
    );
    await expect(mjml2html(broken, { validationLevel: 'strict' })).rejects.toThrow();
  });

  it('escapes article text and defuses braces from articles', async () => {
    const evil = {
      ...fixtureArticle(),
      title: 'Bold <b>claims</b> & {{unsubscribeUrl}} "quoted"',
      paragraphs: ['<script>alert(1)</script> then {{{greeting}}} and }} end'],
      source: '<i>AFP</i>',
    };
    const compiled = await compileNewsletter(alertInput(evil), config);
    expect(compiled.html).toContain('Bold &lt;b&gt;claims&lt;/b&gt; &amp;');
    expect(compiled.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(compiled.html).not.toContain('<script>');
    expect(compiled.html).not.toContain('<i>AFP</i>');
    const out = createPersonaliser(compiled)(vars);
    for (const part of [out.html, out.text]) {
      expect(part).not.toContain('{{');
      expect(part).not.toContain('}}');
    }
    expect(out.text).toContain('<script>alert(1)</script> then');
    expect(out.html).not.toContain('news.example.com/unsubscribe?token=aa.bb"quoted');
  });

  it('links only http(s) URLs and shows a byline', async () => {
    const article = {
      ...fixtureArticle(),
      byline: 'Jane Doe',
      url: 'javascript:alert(1)',
      image: { url: 'data:text/html,<b>x</b>', caption: 'Caption', credit: 'AFP' },
    };
    const compiled = await compileNewsletter(alertInput(article), config);
    expect(compiled.html).not.toMatch(/javascript:|data:text/);
    expect(compiled.html).not.toContain('Read the full story');
    expect(compiled.html).toContain('By Jane Doe');
    const ok = await compileNewsletter(
      alertInput({ ...article, url: 'https://example.com/a?b=1&c=2' }),
      config,
    );
    expect(ok.html).toContain('href="https://example.com/a?b&#x3D;1&amp;c&#x3D;2"');
    expect(ok.text).toContain('Read the full story <https://example.com/a?b=1&c=2>');
    // A URL carrying braces could plant a placeholder: it is not linked.
    const braces = await compileNewsletter(
      alertInput({
        ...blocksArticle(),
        url: 'https://example.com/{{unsubscribeUrl}}',
        blocks: [{ type: 'image', url: 'https://img.example.com/{{greeting}}.jpg' }],
      }),
      config,
    );
    expect(braces.html).not.toContain('example.com/{{');
    expect(braces.html).not.toContain('Read the full story');
  });

  it('compiles once per content hash and recompiles when the content changes', async () => {
    const a = await compileNewsletter(alertInput(), config);
    const b = await compileNewsletter(alertInput(), config);
    expect(b).toBe(a);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    const changed = await compileNewsletter(
      alertInput({ ...fixtureArticle(), title: 'Another title' }),
      config,
    );
    expect(changed.hash).not.toBe(a.hash);
    const otherAddress = await compileNewsletter(
      alertInput(),
      testConfig({ POSTAL_ADDRESS: 'Elsewhere 2' }),
    );
    expect(otherAddress.hash).not.toBe(a.hash);
    expect(otherAddress.html).toContain('Elsewhere 2');
  });

  it('keeps recipient placeholders in the compiled HTML and text, none of them filled', async () => {
    const compiled = await compileNewsletter(alertInput(), config);
    for (const part of [compiled.html, compiled.text]) {
      expect(part).toContain('{{greeting}}');
      expect(part).toContain('{{reason}}');
      expect(part).toContain('{{{unsubscribeUrl}}}');
      expect(part).toContain('{{{preferencesUrl}}}');
    }
  });

  it('makes a text part that reads as the article, lists links and has no HTML', async () => {
    const compiled = await compileNewsletter({ ...alertInput(), issueDate: '2026-12-01' }, config);
    const { text } = createPersonaliser(compiled)(vars);
    expect(text).toMatch(
      /^Herald News\r\nTuesday,? 1 December 2026\r\n\r\nHello Anna,\r\n\r\nRussia-China relations\r\nRussia’s top diplomat/,
    );
    expect(text).toContain(
      'Russia’s top diplomat Sergei Lavrov arrived in Beijing on Monday ahead of an\r\nexpected visit',
    );
    expect(text).toContain('Read the full story <https://www.example.com/world/lavrov-in-china>');
    expect(text).toContain('You get this email because you follow Russia-China relations.');
    expect(text).toContain('Unsubscribe: https://news.example.com/unsubscribe?token=aa.bb\r\n');
    expect(text).toContain(
      'Manage your preferences: https://news.example.com/preferences?token=cc.dd',
    );
    expect(text).toContain('Herald Newsroom, 1 Example Street, 00000 Example City');
    expect(text).not.toMatch(/<\/?(div|p|a|table|span|td|tr|br)\b|&[a-z]+;|&#\d+;|mso|\{|\}/i);
    expect(text).not.toContain('Sign up now');
    // Every line break is CRLF.
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(htmlToText('<p>a &amp; b</p><p><a href="https://x.test/">link</a></p>')).toBe(
      'a & b\n\nlink <https://x.test/>',
    );
  });

  it('wraps the text part after personalisation: no filled-in line runs past 78 characters', async () => {
    const compiled = await compileNewsletter(alertInput(), config);
    const { text } = createPersonaliser(compiled)({
      ...vars,
      name: 'Maximilian Alexander von Lichtenstein-Habsburg zu Hohenberg und Weitersheim',
      followedTopicNames: ['Russia-China relations', 'China', 'Ukraine war', 'European Union'],
      unsubscribeUrl: `https://news.example.com/unsubscribe?token=${'x'.repeat(100)}`,
    });
    const long = text.split('\r\n').filter((line) => line.length > 78);
    // Only a URL (one unbreakable word) may be longer.
    for (const line of long) expect(line).toMatch(/^\S+$/);
    expect(long).toHaveLength(1);
    expect(text).toContain(
      'you follow Russia-China relations, China, Ukraine\r\nwar and European Union.',
    );
    expect(wrapLine('a b c', 3)).toEqual(['a b', 'c']);
    expect(wrapLine(`x ${'y'.repeat(10)} z`, 4)).toEqual(['x', 'y'.repeat(10), 'z']);
  });

  it('digest groups cards under topic names with a lead and a link naming the story', async () => {
    const compiled = await compileNewsletter(digestInput(), config);
    const { html, text } = createPersonaliser(compiled)(vars);
    expect(text.indexOf('Russia-China relations')).toBeLessThan(text.indexOf('\r\nChina\r\n'));
    expect(text).toContain('Xi hosts Belt and Road forum');
    expect(text).toContain('Chinese imports of Russian oil soar');
    expect(text).toMatch(
      /Read “Russia’s top diplomat Lavrov in China ahead of Putin visit”\s+<https:\/\/www\.example\.com\/world\/lavrov-in-china> · AFP/,
    );
    expect(html).not.toContain('Read more');
    // A card shows a lead, not the whole article.
    expect(text).not.toContain('dear friends');
    expect(html).toContain('href="https://news.example.com/unsubscribe?token=aa.bb"');
  });

  it('cuts both parts at their placeholders, so only the values are made per recipient', async () => {
    for (const input of [alertInput(), digestInput()]) {
      const render = createPersonaliser(await compileNewsletter(input, config));
      // greeting, reason, unsubscribe and preferences links at least: not the whole-part
      // fallback (one empty run either side of a Handlebars rendering).
      expect(render.runs.html.length).toBeGreaterThanOrEqual(5);
      expect(render.runs.text.length).toBeGreaterThanOrEqual(3);
      const pieces = render.values(vars);
      expect(pieces.html).toHaveLength(render.runs.html.length - 1);
      expect(pieces.html.join('').length).toBeLessThan(2_000);
      expect(render.runs.html.join('')).not.toContain('{{');
    }
  });

  it('personalises greeting, topics and links, escaping names in HTML', async () => {
    const compiled = await compileNewsletter(alertInput(), config);
    const render = createPersonaliser(compiled);
    expect(createPersonaliser(compiled)).toBe(render);
    const out = render({
      ...vars,
      name: '<script>alert(1)</script>',
      followedTopicNames: ['Russia-China relations', 'China'],
      unsubscribeUrl: 'https://news.example.com/unsubscribe?token=a"b&c',
    });
    expect(out.html).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt;,');
    expect(out.html).toContain('href="https://news.example.com/unsubscribe?token=a&quot;b&amp;c"');
    expect(out.html).toContain('you follow Russia-China relations and China.');
    expect(out.text).toContain('Hello <script>alert(1)</script>,');
    const anonymous = render({ ...vars, name: null, followedTopicNames: [] });
    expect(anonymous.text).toContain('Hello,\r\n');
    expect(anonymous.text).toContain('because you subscribed to these newsletters.');
  });

  it('cleans display names and joins topic lists', () => {
    expect(displayName('Eve\r\nBcc: x@evil.test')).toBe('Eve Bcc: x@evil.test');
    expect(displayName('  A\t\tB  ')).toBe('A B');
    expect(displayName('x'.repeat(200))).toHaveLength(80);
    expect(displayName('{{x}}')).not.toContain('{{');
    expect(displayName(null)).toBe('');
    expect(joinNames(['A'])).toBe('A');
    expect(joinNames(['A', 'B', 'C'])).toBe('A, B and C');
  });

  describe('layout details', () => {
    const render = async (input: NewsletterInput) =>
      createPersonaliser(await compileNewsletter(input, config))(vars);
    const count = (html: string, pattern: RegExp) => html.match(pattern)?.length ?? 0;

    it('declares light and dark colour schemes, with dark styles for clients and Outlook.com', async () => {
      for (const input of [alertInput(), digestInput()]) {
        const { html } = await render(input);
        expect(html).toContain('<meta name="color-scheme" content="light dark"');
        expect(html).toContain('<meta name="supported-color-schemes" content="light dark"');
        expect(html).toContain('@media (prefers-color-scheme: dark)');
        expect(html).toContain('[data-ogsc] .hd-ink');
        expect(html).toContain('[data-ogsb] .hd-page');
      }
    });

    it('shows a caption and credit only with a photo', async () => {
      // The fixture has a caption and credit but no image URL.
      const bare = await render(alertInput());
      expect(bare.html).not.toContain('Mr Sergei Lavrov was in the Chinese capital as part');
      expect(bare.html).not.toContain('Photo: AFP');
      const withPhoto = await render(alertInput(blocksArticle()));
      expect(withPhoto.html).toMatch(/<img[^>]+src="https:\/\/img\.example\.com\/lavrov\.jpg"/);
      expect(withPhoto.html).toContain('alt="Sergei Lavrov at the airport in Beijing"');
      expect(withPhoto.html).toContain('Mr Sergei Lavrov was in the Chinese capital. Photo: AFP');
    });

    it('alert: one h1 (the headline) and the article blocks as h2, h3, lists, quote and photo', async () => {
      const { html, text } = await render(alertInput(blocksArticle()));
      expect(count(html, /<h1\b/g)).toBe(1);
      expect(html).toMatch(
        /<h1[^>]*>Russia’s top diplomat Lavrov in China ahead of Putin visit<\/h1>/,
      );
      expect(html).toMatch(/<h2[^>]*>A visit long in the making<\/h2>/);
      expect(html).toMatch(/<h3[^>]*>What comes next<\/h3>/);
      expect(html).toMatch(
        /<ul[^>]*><li[^>]*>Energy deals<\/li><li[^>]*>Security in Central Asia<\/li><\/ul>/,
      );
      expect(html).toMatch(/<ol[^>]*><li[^>]*>Arrival<\/li>/);
      expect(html).toMatch(
        /<blockquote[^>]*>Our relations are at their best in history\.<br \/><span[^>]*>— Sergei Lavrov<\/span><\/blockquote>/,
      );
      expect(html).toContain('src="https://img.example.com/square.jpg"');
      expect(html).toContain('Tiananmen Square. Photo: Reuters');
      // Order follows the blocks.
      expect(html.indexOf('A visit long in the making')).toBeLessThan(html.indexOf('Energy deals'));
      expect(html.indexOf('Tiananmen Square.')).toBeLessThan(html.indexOf('What comes next'));
      expect(text).toContain(' * Energy deals\r\n * Security in Central Asia');
      expect(text).toContain(' 1. Arrival');
      expect(text).toContain('> Our relations are at their best in history.');
      expect(text).toContain('\r\nA visit long in the making\r\n');
    });

    it('an article without blocks renders its paragraphs', async () => {
      const { html } = await render(alertInput());
      const paragraphs = fixtureArticle().paragraphs;
      expect(count(html, /<p style="margin:0 0 16px">/g)).toBe(paragraphs.length);
      expect(html).toContain(paragraphs.at(-1)!);
    });

    it('an excerpt sends the first paragraphs and a Continue reading link; none without a URL', async () => {
      const { html, text } = await render({ ...alertInput(blocksArticle()), excerptParagraphs: 2 });
      const [first, second, third] = fixtureArticle().paragraphs;
      expect(html).toContain(first!);
      expect(html).toContain(second!);
      expect(html).toContain('A visit long in the making');
      expect(html).not.toContain(third!);
      expect(html).not.toContain('Energy deals');
      expect(text).toContain('Continue reading <https://www.example.com/world/lavrov-in-china>');
      const noUrl = await render({
        ...alertInput({ ...blocksArticle(), url: undefined }),
        excerptParagraphs: 2,
      });
      expect(noUrl.html).toContain(third!);
      expect(noUrl.html).not.toContain('Continue reading');
      // Fewer paragraphs than the excerpt: the whole article, with the usual link.
      const short = await render({ ...alertInput(), excerptParagraphs: 100 });
      expect(short.html).toContain('Read the full story');
      expect(short.html).not.toContain('Continue reading');
    });

    it('digest: h1 subject, h2 topics, h3 stories; links name the story and only where there is a URL', async () => {
      const input = digestInput();
      input.groups[1]!.articles[0] = {
        ...input.groups[1]!.articles[0]!,
        url: 'https://www.example.com/china/forum',
        image: { url: 'https://img.example.com/forum.jpg', alt: 'The forum hall' },
      };
      const { html, text } = await render({ ...input, issueDate: '2026-12-01' });
      expect(count(html, /<h1\b/g)).toBe(1);
      expect(html).toMatch(/<h1[^>]*>Your daily digest: Russia-China relations and China<\/h1>/);
      expect(count(html, /<h2\b/g)).toBe(2);
      expect(count(html, /<h3\b/g)).toBe(3);
      // Two of three stories have a URL: a linked headline and a named link each.
      expect(html).toContain('>Read “Xi hosts Belt and Road forum”</a>');
      expect(html).toContain(
        '>Read “Russia’s top diplomat Lavrov in China ahead of Putin visit”</a>',
      );
      expect(html).not.toContain('Read “Chinese imports of Russian oil soar”');
      expect(count(html, /href="https:\/\/www\.example\.com\//g)).toBe(4);
      expect(html).not.toMatch(/>Read more</);
      // A photo for the story that has one, none for the others.
      expect(count(html, /<img\b/g)).toBe(1);
      expect(html).toContain('alt="The forum hall"');
      // A divider between the two China stories; topics open with an accent rule.
      expect(count(html, /class="hd-rule"/g)).toBeGreaterThanOrEqual(3);
      expect(count(html, /class="hd-rule-accent"/g)).toBe(2);
      // Links in the palette's accent, not a stock blue.
      expect(html).toContain('style="color:#c62828;font-weight:bold"');
      expect(html).not.toContain('#0b57d0');
      // The masthead carries the issue date.
      expect(html).toMatch(/Tuesday,? 1 December 2026/);
      expect(text).toMatch(/^Herald News\r\nTuesday,? 1 December 2026\r\n/);
      // The text part lists each story's URL once (on its "Read …" line).
      expect(count(text, /www\.example\.com\/china\/forum/g)).toBe(1);
      expect(text).toContain('\r\nXi hosts Belt and Road forum\r\n');
    });

    it('a digest card leads with the first paragraph block, not a heading', async () => {
      const article = {
        ...blocksArticle(),
        standfirst: undefined,
        paragraphs: ['Opening heading', 'The real first paragraph.'],
        blocks: [
          { type: 'heading' as const, level: 2 as const, text: 'Opening heading' },
          { type: 'paragraph' as const, text: 'The real first paragraph.' },
        ],
      };
      const { html } = await render({
        ...digestInput(),
        groups: [{ topicId: 'c', topicName: 'China', articles: [article] }],
      });
      expect(html).toContain('The real first paragraph.');
      expect(html).not.toContain('Opening heading');
    });

    it('pads a short preheader and keeps it out of the text part', async () => {
      const { html, text } = await render(alertInput({ ...shortArticle(), url: undefined }));
      expect(html).toMatch(
        /<div class="preheader"[^>]*>Leaders from 130 countries gather in Beijing for the summit\.(&#847; &zwnj; &nbsp; ){60}<\/div>/,
      );
      expect(text).not.toContain('&#847;');
      expect(text.indexOf('Leaders from 130 countries')).toBeGreaterThan(
        text.indexOf('Hello Anna'),
      );
    });
  });
});
