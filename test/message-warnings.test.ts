// What an editor hears at campaign create (long subject, HTML near Gmail's clip), and the
// excerpt option: the first paragraphs and a "Continue reading" link instead of the article.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { previewCampaign } from '../src/delivery/preview.ts';
import { newsletterInput } from '../src/delivery/renderer.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { compileNewsletter, newsletterWarnings } from '../src/templates/index.ts';
import { type RunningHerald, startHerald, testEnv } from './helpers/herald.ts';
import { alertInput, fixtureArticle, testConfig } from './helpers/newsletter.ts';
import { seedSubscribers } from './helpers/seed.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const run = promisify(execFile);
const FIXTURE = new URL('./fixtures/articles/lavrov-china.txt', import.meta.url).pathname;

describe('newsletterWarnings', () => {
  const config = testConfig();

  it('is quiet for the fixture alert', async () => {
    expect(newsletterWarnings(await compileNewsletter(alertInput(), config), config)).toEqual([]);
  });

  it('warns on a subject over 80 characters and on HTML over 90 kB; an excerpt fixes the size', async () => {
    const base = fixtureArticle();
    // About 84 kB of text, as the article in the issue.
    const long = { ...base, paragraphs: Array.from({ length: 26 }, () => base.paragraphs).flat() };
    const subject = `${'A very long subject line '.repeat(4)}indeed`;
    const warnings = newsletterWarnings(
      await compileNewsletter({ ...alertInput(long), subject }, config),
      config,
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^subject: 106 characters/);
    expect(warnings[1]).toMatch(/^html: \d+ kB; Gmail clips messages over 102 kB/);
    const excerpt = await compileNewsletter({ ...alertInput(long), excerptParagraphs: 3 }, config);
    expect(newsletterWarnings(excerpt, config)).toEqual([]);
  });
});

describe('newsletterInput', () => {
  it('carries the excerpt and dates the issue by the campaign’s creation day', () => {
    const campaign = {
      template: 'alert' as const,
      subject: 'S',
      audienceTopics: ['russia-china'],
      excerpt: 2,
      createdAt: '2026-12-01T06:00:00.000Z',
    };
    const input = newsletterInput(campaign, [fixtureArticle()], { 'russia-china': 'R-C' });
    expect(input).toMatchObject({ excerptParagraphs: 2, issueDate: '2026-12-01' });
    expect(input.groups[0]).toMatchObject({ topicName: 'R-C' });
    const plain = newsletterInput({ ...campaign, excerpt: null }, [fixtureArticle()], {});
    expect(plain.excerptParagraphs).toBeUndefined();
  });
});

describe.each(DIALECTS)('excerpt campaigns and create warnings (%s)', (dialect) => {
  let t: TestStore;
  let herald: RunningHerald;
  let articleId: number;
  let editorKey: string;
  const url = 'https://www.example.com/world/lavrov-in-china';

  beforeAll(async () => {
    t = await openTestStore(dialect);
    herald = await startHerald(testEnv(t.databaseUrl), false);
    const db = herald.app.store.db;
    const parsed = parseArticle({ body: await readFile(FIXTURE), filename: FIXTURE });
    articleId = (await saveArticle(db, { ...parsed, url })).article.id;
    await seedSubscribers(db, [
      { email: 'ana@example.net', name: 'Ana', topics: ['russia-china-relations'] },
    ]);
    editorKey = (await createApiKey(db, 'editor')).key;
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  it('API: stores the excerpt, answers with warnings, and the message stops after N paragraphs', async () => {
    const server = await buildServer(herald.app);
    try {
      const created = await server.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: { authorization: `Bearer ${editorKey}` },
        payload: { articleIds: [articleId], excerpt: 2, subject: 'S'.repeat(81) },
      });
      expect(created.statusCode).toBe(201);
      const campaign = created.json() as { id: number; excerpt: number; warnings: string[] };
      expect(campaign.excerpt).toBe(2);
      expect(campaign.warnings).toEqual([expect.stringMatching(/^subject: 81 characters/)]);
      const preview = await previewCampaign(
        herald.app.store.db,
        herald.app.config,
        campaign.id,
        'ana@example.net',
      );
      const text = (await simpleParser(preview.message.raw)).text ?? '';
      expect(text).toContain('Continue reading <https://www.example.com/world/lavrov-in-china>');
      expect(text).toContain('arrived in Beijing on Monday');
      // The third paragraph onwards stays on the website.
      expect(text).not.toContain('The Foreign Ministry announced');

      const bad = await server.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: { authorization: `Bearer ${editorKey}` },
        payload: { articleIds: [articleId], excerpt: 0 },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('excerpt');
    } finally {
      await server.close();
    }
  });

  it('CLI: --excerpt and warnings in the JSON answer', async () => {
    const env = { ...process.env, ...herald.env };
    const created = await run(
      'node',
      [
        'bin/herald.js',
        'campaign',
        'create',
        '--article',
        String(articleId),
        '--excerpt',
        '3',
        '--json',
      ],
      { env },
    );
    const campaign = JSON.parse(created.stdout) as { excerpt: number; warnings: string[] };
    expect(campaign).toMatchObject({ excerpt: 3, warnings: [] });
    const refused = await run(
      'node',
      ['bin/herald.js', 'campaign', 'create', '--article', String(articleId), '--excerpt', 'x'],
      { env },
    ).catch((error: { stderr: string; code: number }) => error);
    expect('code' in refused && refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/excerpt/);
  }, 60_000);
});
