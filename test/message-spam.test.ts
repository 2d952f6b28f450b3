// SpamAssassin's local rules judge the alert and the digest built from the fixture.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import { createMessageBuilder } from '../src/delivery/message.ts';
import { compileNewsletter, type NewsletterInput } from '../src/templates/index.ts';
import { alertInput, blocksArticle, digestInput, testConfig } from './helpers/newsletter.ts';

const FIXTURE = new URL('./fixtures/articles/lavrov-china.txt', import.meta.url).pathname;
/** The fixture as the real ingest parser stores it. */
const parsedFixture = () => ({
  ...parseArticle({ body: readFileSync(FIXTURE), filename: FIXTURE }),
  id: 9,
});

/** Runs `spamassassin -L -t` over a raw message and returns its score and rule report. */
function spamScore(raw: Buffer): { score: number; report: string } {
  const run = spawnSync('spamassassin', ['-L', '-t'], { input: raw, encoding: 'utf8' });
  expect(run.error).toBeUndefined();
  const status = /^X-Spam-Status: \w+, score=(-?[\d.]+)/m.exec(run.stdout);
  expect(status, run.stderr).not.toBeNull();
  const report = run.stdout.slice(run.stdout.indexOf('Content analysis details'));
  return { score: Number(status![1]), report };
}

describe('SpamAssassin (local rules)', () => {
  const config = testConfig();
  const recipient = {
    subscriberId: 7,
    email: 'anna@example.com',
    name: 'Anna Smith',
    followedTopicNames: ['Russia-China relations'],
  };

  it.each([
    ['alert', alertInput()],
    ['digest', digestInput()],
    ['alert (real parser)', alertInput(parsedFixture())],
    ['alert with blocks and photos', alertInput(blocksArticle())],
    ['alert excerpt', { ...alertInput(blocksArticle()), excerptParagraphs: 2 }],
    [
      'digest (real parser)',
      {
        ...digestInput(),
        groups: [
          { topicId: 'rc', topicName: 'Russia-China relations', articles: [parsedFixture()] },
          ...digestInput().groups.slice(1),
        ],
      },
    ],
  ] as Array<[string, NewsletterInput]>)(
    'scores the %s built from the fixture at 1.0 or less',
    async (_name, input) => {
      const compiled = await compileNewsletter(input, config);
      const message = createMessageBuilder(
        compiled,
        { campaignId: 3, kind: 'campaign' },
        config,
      )(recipient);
      const { score, report } = spamScore(message.raw);
      expect(score, report).toBeLessThanOrEqual(1.0);
    },
    60_000,
  );

  it('does flag an obviously spammy message (the scorer is really running)', () => {
    const spam = Buffer.from(
      'From: winner@lottery.test\r\nTo: you@example.com\r\nSubject: FREE MONEY!!! CLICK NOW!!!\r\n\r\n' +
        'Dear friend, you have WON $1,000,000 USD!!! Click here to claim your prize. ' +
        'Send your bank account details. 100% FREE! Viagra cheap! Act now! limited time offer!!!\r\n',
    );
    expect(spamScore(spam).score).toBeGreaterThan(1.0);
  }, 60_000);
});
