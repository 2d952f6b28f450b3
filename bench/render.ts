// Render bench: one MJML compile, then personalised renders and full message builds per second
// on this one core (one process, one thread). `node bin/run-ts.js bench/render.ts [--seconds N]`
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mjml2html from 'mjml';
import { parseArticle } from '../src/articles/parse.ts';
import type { StoredArticle } from '../src/articles/schema.ts';
import { parseConfig } from '../src/config/index.ts';
import {
  composeWithNodemailer,
  createMessageBuilder,
  type Recipient,
} from '../src/delivery/message.ts';
import { compileNewsletter, type NewsletterInput, renderMjml } from '../src/templates/index.ts';
import { createPersonaliser } from '../src/templates/personalise.ts';

const TARGET_RENDERS = 50_000;
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);

const fixturePath = resolve(import.meta.dirname, '../test/fixtures/articles/lavrov-china.txt');
const article: StoredArticle = {
  ...parseArticle({ body: readFileSync(fixturePath), filename: fixturePath }),
  id: 1,
  url: 'https://news.example.com/articles/1',
};
const config = parseConfig({
  PUBLIC_URL: 'https://news.example.com',
  MAIL_FROM: 'Herald News <newsletter@news.example.com>',
  // Builds sign link tokens, which refuse to run without a secret.
  HERALD_SECRET: 'render-bench-secret-render-bench-0123',
});
const input: NewsletterInput = {
  template: 'alert',
  // A unique subject so this compile is a cache miss.
  subject: `${article.title} (${Date.now()})`,
  groups: [
    { topicId: 'russia-china-relations', topicName: 'Russia-China relations', articles: [article] },
  ],
};

/** Runs `fn` repeatedly for about `seconds` and returns calls per second. */
function rate(fn: (i: number) => unknown, secs = seconds): number {
  for (let i = 0; i < 2_000; i++) fn(i); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + secs * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 200; k++) fn(n++);
  }
  return n / ((performance.now() - start) / 1000);
}

async function rateAsync(fn: (i: number) => Promise<unknown>, secs = seconds): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(i);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < secs * 1000) await fn(n++);
  return n / ((performance.now() - start) / 1000);
}

const recipients: Recipient[] = Array.from({ length: 1000 }, (_, i) => ({
  subscriberId: i + 1,
  email: `reader${i}@example.org`,
  name: i % 3 === 0 ? `Zoë Ünïcode ${i}` : `Reader ${i}`,
  followedTopicNames: ['Russia-China relations'],
}));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const t0 = performance.now();
const compiled = await compileNewsletter(input, config);
const compileMs = performance.now() - t0;
const t1 = performance.now();
await compileNewsletter({ ...input, subject: `${input.subject}!` }, config);
const warmCompileMs = performance.now() - t1;

// One MJML compile alone (strict validation), the median of five.
const mjmlSource = renderMjml(input, config);
const mjmlTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  await mjml2html(mjmlSource, { validationLevel: 'strict' });
  mjmlTimes.push(performance.now() - start);
}
const mjmlMs = mjmlTimes.sort((a, b) => a - b)[2]!;

const personalise = createPersonaliser(compiled);
const renders = rate((i) =>
  personalise({
    name: recipients[i % 1000]!.name,
    followedTopicNames: recipients[i % 1000]!.followedTopicNames,
    unsubscribeUrl: `https://news.example.com/unsubscribe?token=t${i}`,
    preferencesUrl: `https://news.example.com/preferences?token=p${i}`,
  }),
);
const context = { campaignId: 1, kind: 'campaign' } as const;
const build = createMessageBuilder(compiled, context, config);
const builds = rate((i) => build(recipients[i % 1000]!));
const reference = composeWithNodemailer(compiled, context, config);
const referenceBuilds = await rateAsync((i) => reference(recipients[i % 1000]!), 1);

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkimConfig = parseConfig({
  PUBLIC_URL: config.PUBLIC_URL,
  MAIL_FROM: config.MAIL_FROM,
  HERALD_SECRET: config.HERALD_SECRET,
  DKIM_DOMAIN: 'news.example.com',
  DKIM_SELECTOR: 'herald',
  DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
});
const signedBuild = createMessageBuilder(compiled, context, dkimConfig);
const signedBuilds = rate((i) => signedBuild(recipients[i % 1000]!), 1);
const size = build(recipients[0]!).raw.length;

const rows: Array<[string, string]> = [
  ['one MJML compile (alert, mjml2html strict, median of 5)', `${mjmlMs.toFixed(1)} ms`],
  ['compileNewsletter (MJML + text part), first in process', `${compileMs.toFixed(1)} ms`],
  ['compileNewsletter, second (new content)', `${warmCompileMs.toFixed(1)} ms`],
  ['personalised renders (HTML + text) / s / core', fmt(renders)],
  [
    `message builds (tokens + render + MIME, ${(size / 1024).toFixed(1)} kB) / s / core`,
    fmt(builds),
  ],
  ['message builds with DKIM (RSA-2048) / s / core', fmt(signedBuilds)],
  ['nodemailer MailComposer builds / s / core (reference)', fmt(referenceBuilds)],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v.padStart(10)}\n`);
// Numbers from a shared machine mean little without its load next to them.
process.stdout.write(
  `  load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores (figures are for one core)\n`,
);
const pass = renders >= TARGET_RENDERS;
process.stdout.write(
  `  target: ${fmt(TARGET_RENDERS)} personalised renders/s per core: ${pass ? 'met' : 'NOT met'}\n`,
);
process.exitCode = pass ? 0 : 1;
