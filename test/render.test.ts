// `herald render`: an article previewed as one subscriber's alert, on both SQL dialects + CLI.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArticle } from '../src/articles/parse.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { PreviewError, previewArticle } from '../src/delivery/article-preview.ts';
import { upsertSubscriber } from '../src/subscribers/repository.ts';
import { verifyToken } from '../src/tokens/index.ts';
import { testConfig } from './helpers/newsletter.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const run = promisify(execFile);
const FIXTURE = new URL('./fixtures/articles/lavrov-china.txt', import.meta.url).pathname;

describe.each(DIALECTS)('previewArticle (%s)', (dialect) => {
  let t: TestStore;
  let articleId: number;
  let subscriberId: number;
  const config = testConfig();
  beforeAll(async () => {
    t = await openTestStore(dialect);
    const article = parseArticle({ body: await readFile(FIXTURE), filename: FIXTURE });
    articleId = (await saveArticle(t.store.db, article)).article.id;
    subscriberId = (
      await upsertSubscriber(t.store.db, {
        email: 'anna@example.com',
        name: '<script>alert(1)</script>',
        topics: ['russia-china-relations', 'ukraine-war'],
        status: 'active',
      })
    ).id;
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('renders the stored article for that subscriber', async () => {
    const preview = await previewArticle(t.store.db, config, articleId, 'anna@example.com');
    expect(preview.subscriberId).toBe(subscriberId);
    const parsed = await simpleParser(preview.message.raw);
    expect(parsed.subject).toBe('Russia’s top diplomat Lavrov in China ahead of Putin visit');
    expect(parsed.html).toBe(preview.html);
    expect(preview.html).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt;,');
    expect(parsed.text).toContain('because you follow Russia-China relations');
    expect(parsed.text).not.toContain('Sign up now');
    for (const part of [preview.html, parsed.text ?? '']) expect(part).not.toMatch(/\{\{|\}\}/);
    const token = /unsubscribe\?token=([\w.-]+)/.exec(parsed.text ?? '')![1]!;
    expect(verifyToken(config.HERALD_SECRET, 'unsubscribe', token)).toMatchObject({
      ok: true,
      claims: { subscriberId },
    });
  });

  it('names the field for an unknown article or address', async () => {
    await expect(previewArticle(t.store.db, config, 9999, 'anna@example.com')).rejects.toThrow(
      PreviewError,
    );
    await expect(
      previewArticle(t.store.db, config, articleId, 'nobody@example.com'),
    ).rejects.toMatchObject({ field: 'to' });
  });
});

describe('herald render (CLI)', () => {
  let dir: string;
  const env = () => ({
    ...process.env,
    HERALD_DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    DATABASE_URL: '',
    HERALD_SECRET: 'render-test-secret-0123456789-abcdef',
  });
  const herald = (...args: string[]) => run('node', ['bin/herald.js', ...args], { env: env() });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-render-'));
    await herald('ingest', FIXTURE);
    await herald(
      'subscribers',
      'add',
      'eve@example.com',
      '--name',
      'Eve',
      '--topics',
      'russia-china-relations',
    );
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the .eml and the HTML part, and prints one JSON summary', async () => {
    const eml = join(dir, 'out.eml');
    const html = join(dir, 'out.html');
    const { stdout } = await herald(
      'render',
      '--article',
      '1',
      '--to',
      'eve@example.com',
      '--eml',
      eml,
      '--html',
      html,
    );
    const summary = JSON.parse(stdout);
    expect(summary.envelope.to).toEqual(['eve@example.com']);
    const parsed = await simpleParser(await readFile(eml));
    expect(parsed.messageId).toBe(summary.messageId);
    expect(await readFile(html, 'utf8')).toBe(parsed.html);
    expect(parsed.text).toContain('Hello Eve,');
  }, 60_000);

  it('prints the raw message without file options', async () => {
    const { stdout } = await herald('render', '--article', '1', '--to', 'eve@example.com');
    expect(stdout).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/);
    expect(stdout).toContain('Content-Type: multipart/alternative');
  }, 60_000);

  it('fails with one clear line and exit 2 for an unknown article', async () => {
    const failure = await herald('render', '--article', '42', '--to', 'eve@example.com').catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({
      code: 2,
      stderr: 'herald: --article: no article with id 42\n',
    });
  }, 60_000);
});
