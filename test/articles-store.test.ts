// Storing articles on both dialects: topics from the matcher, re-ingest without duplicates,
// editor overrides, digest listing, the HTTP API and the `herald ingest` CLI.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { acceptedMediaTypes } from '../src/articles/formats.ts';
import { ArticleInputError, parseArticle } from '../src/articles/parse.ts';
import {
  getArticle,
  listArticlesForTopics,
  saveArticle,
  setArticleTopics,
} from '../src/articles/repository.ts';
import type { Article } from '../src/articles/schema.ts';
import { parseConfig } from '../src/config/index.ts';
import { createApiKey } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const LAVROV = resolve(repoRoot, 'test/fixtures/articles/lavrov-china.txt');
const fixturePath = (name: string) => resolve(repoRoot, 'test/fixtures/articles', name);
const parseFile = (path: string) => parseArticle({ body: readFileSync(path), filename: path });

async function countArticles(t: TestStore): Promise<number> {
  const row = await t.store.db
    .selectFrom('articles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const simple = (title: string, extra: Partial<Article> = {}): Article => ({
  title,
  paragraphs: [`${title} happened.`],
  topics: [],
  ...extra,
});

describe.each(DIALECTS)('article store (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('stores the fixture with its matched topics and reads it back whole', async () => {
    const article = parseFile(LAVROV);
    const saved = await saveArticle(t.store.db, article);
    expect(saved.created).toBe(true);
    expect(saved.article.id).toBeGreaterThan(0);
    expect([...saved.article.topics].sort()).toEqual(
      [
        'belt-and-road',
        'china',
        'israel-gaza',
        'russia',
        'russia-china-relations',
        'ukraine-war',
      ].sort(),
    );
    expect(saved.article.topics[0]).toBe('russia-china-relations');
    const read = await getArticle(t.store.db, saved.article.id);
    expect(read).toEqual({ ...article, id: saved.article.id, topics: saved.article.topics });
  });

  it('round-trips blocks and tags through the store (issue 12)', async () => {
    const article = parseFile(fixturePath('china-ev-exports.md'));
    expect(article.blocks?.length).toBeGreaterThan(5);
    const saved = await saveArticle(t.store.db, article);
    const read = await getArticle(t.store.db, saved.article.id);
    expect(read).toEqual({ ...article, id: saved.article.id, topics: saved.article.topics });
    expect(read?.blocks).toEqual(article.blocks);
    expect(read?.tags).toEqual(['China', 'electric vehicles', 'EU', 'trade']);
    // Tags are hints: the China topic is matched with their help.
    expect(read?.topics).toContain('china');
  });

  it('labels chosen topics strongest first, whatever order or alphabet says', async () => {
    const summit = parseFile(fixturePath('russia-china-summit.md'));
    const saved = await saveArticle(t.store.db, {
      ...summit,
      topics: ['china', 'russia-china-relations'],
    });
    expect(saved.article.topics).toEqual(['russia-china-relations', 'china']);
    expect((await getArticle(t.store.db, saved.article.id))?.topics).toEqual([
      'russia-china-relations',
      'china',
    ]);
  });

  it('re-ingesting the same content updates, no duplicate', async () => {
    const before = await countArticles(t);
    const again = await saveArticle(t.store.db, parseFile(LAVROV));
    expect(again.created).toBe(false);
    expect(await countArticles(t)).toBe(before);
  });

  it('re-ingesting the same url with new text updates that article', async () => {
    const url = 'https://news.example/a/1';
    const first = await saveArticle(t.store.db, simple('First version', { url }));
    const before = await countArticles(t);
    const second = await saveArticle(t.store.db, simple('Second version', { url }));
    expect(second.created).toBe(false);
    expect(second.article.id).toBe(first.article.id);
    expect(second.article.title).toBe('Second version');
    expect(await countArticles(t)).toBe(before);
  });

  it('uses topics the input brings, and refuses unknown ones storing nothing', async () => {
    const given = await saveArticle(t.store.db, parseFile(fixturePath('ukraine-frontline.md')));
    // Kept as chosen, labelled strongest first (not alphabetically).
    expect(given.article.topics).toEqual(['ukraine-war', 'russia']);
    const before = await countArticles(t);
    const error = await saveArticle(
      t.store.db,
      simple('Bad topics', { topics: ['russia', 'no-such-topic'] }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArticleInputError);
    expect((error as ArticleInputError).field).toBe('topics');
    expect((error as ArticleInputError).message).toContain('no-such-topic');
    expect(await countArticles(t)).toBe(before);
  });

  it('an editor override replaces the topics and survives re-ingest', async () => {
    const saved = await saveArticle(t.store.db, parseFile(fixturePath('china-economy.txt')));
    expect(saved.article.topics).toEqual(expect.arrayContaining(['china', 'economy']));
    const overridden = await setArticleTopics(t.store.db, saved.article.id, [
      'economy',
      'russia-china-relations',
    ]);
    expect(overridden?.topics).toEqual(['economy', 'russia-china-relations']);
    const again = await saveArticle(t.store.db, parseFile(fixturePath('china-economy.txt')));
    expect(again.created).toBe(false);
    expect(again.article.topics).toEqual(['economy', 'russia-china-relations']);
  });

  it('an override with an unknown topic id names it and changes nothing', async () => {
    const saved = await saveArticle(t.store.db, parseFile(fixturePath('gaza-ceasefire.json')));
    const error = await setArticleTopics(t.store.db, saved.article.id, [
      'israel-gaza',
      'mars',
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArticleInputError);
    expect((error as Error).message).toBe('unknown topic id: mars');
    expect((await getArticle(t.store.db, saved.article.id))?.topics).toEqual(['israel-gaza']);
    expect(await setArticleTopics(t.store.db, 999_999, ['china'])).toBeNull();
  });

  it('lists articles for topics newest first by publishedAt, within since/until', async () => {
    const older = await saveArticle(
      t.store.db,
      simple('Older climate story', { publishedAt: '2024-01-02T00:00:00Z', topics: ['climate'] }),
    );
    const newer = await saveArticle(
      t.store.db,
      // An offset is stored as UTC, so it sorts right: 2024-01-03T22:00Z.
      simple('Newer climate story', {
        publishedAt: '2024-01-04T01:00:00+03:00',
        topics: ['climate', 'economy'],
      }),
    );
    await saveArticle(
      t.store.db,
      simple('Other beat', { publishedAt: '2024-01-05T00:00:00Z', topics: ['technology'] }),
    );
    const listed = await listArticlesForTopics(t.store.db, {
      topicIds: ['climate'],
      limit: 10,
      until: '2025-01-01T00:00:00Z',
    });
    expect(listed.map((a) => a.id)).toEqual([newer.article.id, older.article.id]);
    expect(listed[0]?.publishedAt).toBe('2024-01-03T22:00:00.000Z');
    const window = await listArticlesForTopics(t.store.db, {
      topicIds: ['climate', 'technology'],
      since: '2024-01-03T00:00:00Z',
      until: '2024-01-05T00:00:00Z',
      limit: 10,
    });
    expect(window.map((a) => a.title)).toEqual(['Newer climate story']);
    const limited = await listArticlesForTopics(t.store.db, {
      topicIds: ['climate', 'technology'],
      limit: 1,
      until: '2025-01-01T00:00:00Z',
    });
    expect(limited.map((a) => a.title)).toEqual(['Other beat']);
    expect(await listArticlesForTopics(t.store.db, { topicIds: [], limit: 10 })).toEqual([]);
  });

  it('falls back to created_at when an article has no publishedAt', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const saved = await saveArticle(
      t.store.db,
      simple('Undated Belt and Road note', { topics: ['belt-and-road'] }),
    );
    const listed = await listArticlesForTopics(t.store.db, {
      topicIds: ['belt-and-road'],
      since,
      limit: 5,
    });
    expect(listed.map((a) => a.id)).toContain(saved.article.id);
  });
});

describe.each(DIALECTS)('/api/articles (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: Awaited<ReturnType<typeof buildServer>>;
  let editor: string;
  let ops: string;
  beforeAll(async () => {
    t = await openTestStore(dialect);
    app = await createApp(parseConfig({ DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent' }));
    server = await buildServer(app);
    editor = (await createApiKey(app.store.db, 'editor')).key;
    ops = (await createApiKey(app.store.db, 'ops')).key;
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await t?.dispose();
  });

  const post = (body: string | Buffer, contentType: string, key = editor) =>
    server.inject({
      method: 'POST',
      url: '/api/articles',
      headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
      payload: body,
    });

  it('needs an editor key', async () => {
    const none = await server.inject({ method: 'POST', url: '/api/articles', payload: 'x' });
    expect(none.statusCode).toBe(401);
    expect((await post('Title\n\nBody.', 'text/plain', ops)).statusCode).toBe(403);
  });

  it('ingests plain text, then answers 200 for the same article again', async () => {
    const first = await post(readFileSync(LAVROV), 'text/plain; charset=utf-8');
    expect(first.statusCode).toBe(201);
    const body = first.json() as Article & { id: number; created: boolean };
    expect(body.created).toBe(true);
    expect(body.title).toBe('Russia’s top diplomat Lavrov in China ahead of Putin visit');
    expect(body.source).toBe('AFP');
    expect(body.topics).toContain('russia-china-relations');
    const again = await post(readFileSync(LAVROV), 'text/plain');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: body.id, created: false });
  });

  it('ingests Markdown, JSON and HTML by content type', async () => {
    const md = await post(readFileSync(fixturePath('us-china-tariffs.md')), 'text/markdown');
    expect(md.statusCode).toBe(201);
    expect(md.json()).toMatchObject({
      title: 'US and China agree to pause tariff increases',
      source: 'AFP',
    });
    const json = await post(readFileSync(fixturePath('power-of-siberia.json')), 'application/json');
    expect(json.statusCode).toBe(201);
    expect(json.json().topics).toContain('russia-china-relations');
    const html = await post(readFileSync(fixturePath('moscow-drones.html')), 'text/html');
    expect(html.statusCode).toBe(201);
    expect(html.json()).toMatchObject({ byline: 'Ivan Sokolov', source: 'Reuters' });
    expect(html.json().topics).not.toContain('russia-china-relations');
  });

  it('answers bad input with a 400 naming the problem, storing nothing', async () => {
    const before = await countArticles(t);
    const cases: Array<[string | Buffer, string, string, RegExp]> = [
      ['', 'text/plain', 'body', /empty/],
      [Buffer.from([0, 1, 2, 3, 0xff]), 'application/octet-stream', 'body', /binary/],
      ['{"title": ', 'application/json', 'body', /not valid JSON/],
      ['{"paragraphs": ["x."]}', 'application/json', 'title', /no title/],
      [
        '{"title":"T","paragraphs":["P."],"topics":["atlantis"]}',
        'application/json',
        'topics',
        /atlantis/,
      ],
    ];
    for (const [payload, type, field, message] of cases) {
      const response = await post(payload, type);
      expect(response.statusCode).toBe(400);
      const body = response.json() as { error: string; details: Array<{ field: string }> };
      expect(body.error).toMatch(message);
      expect(body.details[0]?.field).toBe(field);
    }
    const huge = await post(`Title\n\n${'x. '.repeat(800_000)}`, 'text/plain');
    expect(huge.statusCode).toBe(413);
    expect(await countArticles(t)).toBe(before);
  });

  it('refuses a media type that is no article format with a 415 listing the accepted ones', async () => {
    const response = await post('Title\n\nBody.', 'image/png');
    expect(response.statusCode).toBe(415);
    const body = response.json() as { error: string; details: Array<{ field: string }> };
    for (const type of acceptedMediaTypes) expect(body.error).toContain(type);
    expect(body.details[0]?.field).toBe('content-type');
    // A structured-syntax +json type is JSON (RFC 6839), parameters and case aside.
    const ld = await post('{"paragraphs":["x."]}', 'Application/LD+JSON; charset=utf-8');
    expect(ld.statusCode).toBe(400);
    expect(ld.json().details[0]?.field).toBe('title');
  });

  it('GET reads an article; PATCH overrides its topics; unknown ids are 404/400', async () => {
    const created = (
      await post(readFileSync(fixturePath('bri-kazakhstan.json')), 'application/json')
    ).json() as {
      id: number;
    };
    const auth = { authorization: `Bearer ${editor}` };
    const got = await server.inject({
      method: 'GET',
      url: `/api/articles/${created.id}`,
      headers: auth,
    });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      id: created.id,
      title: 'Belt and Road rail link opens in Kazakhstan',
    });
    expect(
      (await server.inject({ method: 'GET', url: '/api/articles/999999', headers: auth }))
        .statusCode,
    ).toBe(404);
    expect(
      (await server.inject({ method: 'GET', url: '/api/articles/abc', headers: auth })).statusCode,
    ).toBe(400);

    const patch = (payload: unknown, id = created.id) =>
      server.inject({
        method: 'PATCH',
        url: `/api/articles/${id}`,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    const ok = await patch({ topics: ['belt-and-road', 'russia-china-relations'] });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().topics).toEqual(['belt-and-road', 'russia-china-relations']);
    const bad = await patch({ topics: ['china', 'narnia'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      error: 'unknown topic id: narnia',
      details: [{ field: 'topics' }],
    });
    expect((await getArticle(app.store.db, created.id))?.topics).toEqual([
      'belt-and-road',
      'russia-china-relations',
    ]);
    expect((await patch({ topics: 'nope' as unknown as string[] }, 999_999)).statusCode).toBe(400);
    expect((await patch({ topics: ['china'] }, 999_999)).statusCode).toBe(404);
    expect((await patch({ nothing: true })).statusCode).toBe(400);
  });
});

/** Runs the CLI against a store; resolves with its exit code and output. */
function herald(
  args: string[],
  databaseUrl: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn('node', ['bin/herald.js', ...args], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe.each(DIALECTS)('herald ingest / topics / articles (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('`ingest lavrov-china.txt --json` (the seed article) prints the clean article', async () => {
    const run = await herald(
      ['ingest', 'test/fixtures/articles/lavrov-china.txt', '--json'],
      t.databaseUrl,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as Article & { id: number; created: boolean };
    expect(printed.id).toBeGreaterThan(0);
    expect(printed.created).toBe(true);
    expect(printed.title).toBe('Russia’s top diplomat Lavrov in China ahead of Putin visit');
    expect(printed.paragraphs[0]).toMatch(
      /^Russia’s top diplomat Sergei Lavrov arrived in Beijing on Monday ahead of an expected visit/,
    );
    expect(printed.paragraphs.at(-1)).toMatch(/Abiy Ahmed\.$/);
    expect(printed.source).toBe('AFP');
    expect(printed.image?.caption).toBe(
      'Mr Sergei Lavrov was in the Chinese capital as part of a Russian delegation.',
    );
    expect(printed.topics).toContain('russia-china-relations');
    expect(printed.topics).not.toContain('us-china-relations');
    expect(await getArticle(t.store.db, printed.id)).toMatchObject({ title: printed.title });
  });

  it('one bad file among several stores nothing and names the file', async () => {
    const before = await countArticles(t);
    const run = await herald(
      [
        'ingest',
        fixturePath('floods.html'),
        fixturePath('bad/no-title.json'),
        fixturePath('missing.txt'),
      ],
      t.databaseUrl,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no-title\.json: .*no title/);
    expect(await countArticles(t)).toBe(before);
  });

  it('`topics --json` prints the catalogue with its rules', async () => {
    const topics = await herald(['topics', '--json'], t.databaseUrl);
    expect(topics.code).toBe(0);
    const catalogue = JSON.parse(topics.stdout) as Array<{ id: string; rules: { all: unknown[] } }>;
    expect(catalogue.map((c) => c.id)).toContain('russia-china-relations');
    expect(catalogue.find((c) => c.id === 'russia-china-relations')?.rules.all).toHaveLength(2);
  });

  it('`articles topics ID --set a;b` overrides, and names an unknown topic', async () => {
    const [article] = await t.store.db.selectFrom('articles').select('id').execute();
    const set = await herald(
      ['articles', 'topics', String(article!.id), '--set', 'china;russia', '--json'],
      t.databaseUrl,
    );
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout).topics).toEqual(['china', 'russia']);
    const bad = await herald(
      ['articles', 'topics', String(article!.id), '--set', 'china;atlantis'],
      t.databaseUrl,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown topic id: atlantis/);
  });
});
