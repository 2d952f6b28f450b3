// The compiled newsletters pass an HTML validator, with only what email clients need allowed.
import { HtmlValidate, type Message } from 'html-validate';
import { describe, expect, it } from 'vitest';
import { compileNewsletter, type NewsletterInput } from '../src/templates/index.ts';
import { createPersonaliser } from '../src/templates/personalise.ts';
import {
  alertInput,
  blocksArticle,
  digestInput,
  fixtureArticle,
  shortArticle,
  testConfig,
} from './helpers/newsletter.ts';

/**
 * html-validate's recommended rules, minus what email HTML needs:
 * - no-inline-style: many clients drop <style>; inline styles are the only reliable styling.
 * - no-conditional-comment: Outlook for Windows lays out only through `<!--[if mso]>` tables.
 * - no-deprecated-attr: checked below instead, allowing only the table attributes Outlook reads.
 * - prefer-native-element: MJML marks its wrapper role="article"; some clients drop <article>.
 * - doctype-style, void-style, no-trailing-whitespace: MJML's spelling (`<!doctype html>`,
 *   `<meta />`, indentation); valid HTML either way.
 */
const validator = new HtmlValidate({
  extends: ['html-validate:recommended'],
  rules: {
    'no-inline-style': 'off',
    'no-conditional-comment': 'off',
    'prefer-native-element': 'off',
    'doctype-style': 'off',
    'void-style': 'off',
    'no-trailing-whitespace': 'off',
    // Not in the recommended set: headings go h1, h2, h3 without a skip.
    'heading-level': 'error',
  },
});

/** Presentational table attributes Outlook's Word engine needs; nothing else deprecated. */
const OUTLOOK_ATTRIBUTE =
  /^Attribute "(align|bgcolor|border|cellpadding|cellspacing|valign|width)" is deprecated on <(table|td)> element$/;

async function problems(html: string): Promise<Message[]> {
  const report = await validator.validateString(html);
  return report.results
    .flatMap((result) => result.messages)
    .filter((m) => !(m.ruleId === 'no-deprecated-attr' && OUTLOOK_ATTRIBUTE.test(m.message)));
}

const vars = {
  name: 'Anna & <Co>',
  followedTopicNames: ['Russia-China relations'],
  unsubscribeUrl: 'https://news.example.com/unsubscribe?token=aa.bb&x=1',
  preferencesUrl: 'https://news.example.com/preferences?token=cc.dd',
};

const inputs: Array<[string, NewsletterInput]> = [
  ['alert', alertInput()],
  ['alert with blocks and photos', alertInput(blocksArticle())],
  ['alert excerpt', { ...alertInput(blocksArticle()), excerptParagraphs: 1 }],
  ['alert without URL or standfirst', alertInput({ ...shortArticle(), standfirst: undefined })],
  [
    'alert with two articles',
    {
      ...alertInput(),
      groups: [{ topicId: 'c', topicName: 'China', articles: [fixtureArticle(), blocksArticle()] }],
    },
  ],
  ['digest', digestInput()],
  [
    'digest with photos',
    {
      ...digestInput(),
      groups: [{ topicId: 'c', topicName: 'China', articles: [blocksArticle(), fixtureArticle()] }],
    },
  ],
];

describe('HTML validation (html-validate)', () => {
  it.each(inputs)('%s validates', async (_label, input) => {
    const compiled = await compileNewsletter(input, testConfig());
    const { html } = createPersonaliser(compiled)(vars);
    expect(await problems(html)).toEqual([]);
    expect(html).not.toContain('height="auto"');
  });

  it('does report what it should: a bad attribute value, a heading skip, a deprecated attribute', async () => {
    const page = (body: string) =>
      `<!doctype html><html lang="en"><head><title>t</title></head><body>${body}</body></html>`;
    const rules = async (body: string) => (await problems(page(body))).map((m) => m.ruleId);
    expect(await rules('<img src="a.png" alt="" height="auto">')).toContain(
      'attribute-allowed-values',
    );
    expect(await rules('<h1>a</h1><h3>b</h3>')).toContain('heading-level');
    expect(await rules('<p align="center">a</p>')).toContain('no-deprecated-attr');
    expect(
      await rules('<table width="600"><tbody><tr><td valign="top">a</td></tr></tbody></table>'),
    ).toEqual([]);
  });
});
