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
});
