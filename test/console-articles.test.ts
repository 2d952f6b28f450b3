// The console's article and topic pages through Fastify inject, on SQLite and PostgreSQL with
// real Redis: list with filters, ingest by paste, upload and URL (and every refusal of the URL
// fetch: loopback, file://, a redirect to a private address, a body over the cap, a timeout),
// the topic panel and override, delete refused while a campaign uses the article, the topic
// pages and the rule test. Each action: the happy path, bad input (a 4xx page naming the field,
// nothing stored), an ops user's 403 and a post without the CSRF token (403, nothing changes).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { getArticle, topicsOverridden } from '../src/articles/repository.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/articles');
const LAVROV = readFileSync(
  resolve(import.meta.dirname, 'fixtures/articles/lavrov-china.txt'),
  'utf8',
);
const CHIPS_MD = readFileSync(join(FIXTURES, 'china-chips.md'), 'utf8');

const ARTICLE_PAGE = `<!doctype html><html><head><title>Floods hit the delta</title>
<meta property="og:description" content="Rising water forced thousands from their homes."></head>
<body><article><h1>Floods hit the delta</h1>
<p>Heavy rain and rising sea levels flooded the delta on Monday, and scientists said climate change made such floods more likely.</p>
<p>The heatwave and drought of the summer had already dried the soil, so the water ran off fast.</p>
<p>Officials said emissions cuts alone would not protect the coast from the warming climate.</p>
</article></body></html>`;

/** A site the tests fetch from: an article page, a redirect to a private address, a huge page. */
async function startSite(): Promise<{ server: Server; base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(request.url ?? '');
    if (request.url === '/article.html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(ARTICLE_PAGE);
    } else if (request.url === '/to-metadata') {
      response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    } else if (request.url === '/to-loopback') {
      response.writeHead(302, { location: 'http://localhost:9/' }).end();
    } else if (request.url === '/huge.html') {
      // No content-length: the cap must stop the stream itself.
      response.writeHead(200, { 'content-type': 'text/html' });
      response.write('<!doctype html><html><body><p>');
      response.end('x'.repeat(3 * 1024 * 1024));
    } else if (request.url === '/slow') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.write('<!doctype html>');
      // Never ends: the time limit must.
    } else if (request.url === '/picture.png') {
      response.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from([137, 80, 78, 71]));
    } else {
      response.writeHead(404).end('no');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, hits };
}

/** A multipart/form-data body with fields first and one file. */
function multipartBody(
  fields: Record<string, string>,
  file: { name: string; type: string; content: string | Buffer } | null,
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----herald${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      ),
    );
  }
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`,
      ),
      Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(parts),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

describe.each(DIALECTS)('console articles and topics pages (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  let site: Awaited<ReturnType<typeof startSite>>;
  let editor: SignedIn;
  let ops: SignedIn;

  beforeAll(async () => {
    site = await startSite();
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-console-articles-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('consolearticles'),
        LOG_LEVEL: 'silent',
        FEED_TIMEOUT_MS: '1000',
        // The test site is on loopback: trusted by host:port, as an intranet CMS would be.
        ARTICLE_FETCH_PRIVATE_HOSTS: new URL(site.base).host,
      }),
    );
    server = await buildServer(app);
    await server.ready();
    editor = await signIn(server, 'editor');
    ops = await signIn(server, 'ops');
  }, 60_000);
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    site.server.closeAllConnections();
    site.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function articleCount(): Promise<number> {
    const row = await app.store.db
      .selectFrom('articles')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  function post(who: SignedIn, url: string, form: Record<string, string | string[]>, csrf = true) {
    const pairs: Array<[string, string]> = Object.entries({
      ...form,
      ...(csrf ? { _csrf: who.csrf } : {}),
    }).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((one): [string, string] => [k, one]));
    return server.inject({
      method: 'POST',
      url,
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(pairs).toString(),
    });
  }

  function get(who: SignedIn, url: string) {
    return server.inject({ url, headers: { cookie: who.cookie } });
  }

  /** Pastes an article; returns its id (from the redirect). */
  async function paste(body: string, format = 'detect'): Promise<number> {
    const response = await post(editor, '/console/articles/new/paste', { body, format });
    expect(response.statusCode, response.body.slice(0, 300)).toBe(303);
    const id = Number(/\/console\/articles\/(\d+)/.exec(response.headers.location ?? '')?.[1]);
    expect(id).toBeGreaterThan(0);
    return id;
  }

  it('ingests a pasted article, sends the editor to it, and shows its topics with strength and terms', async () => {
    const id = await paste(LAVROV, 'text');
    const stored = await getArticle(app.store.db, id);
    expect(stored?.title).toMatch(/Lavrov/);
    expect(stored?.topics).toContain('russia-china-relations');
    const page = await get(editor, `/console/articles/${id}?ingested=new`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Article stored.');
    expect(page.body).toContain('Tagged by the rules');
    // The topic panel: the name, its strength, and the terms that matched.
    expect(page.body).toMatch(/Russia–China relations|Russia-China relations/);
    expect(page.body).toMatch(/strength \d+/);
    expect(page.body).toMatch(/Lavrov \(\d+\)/);
    // Pasting it again updates it: no duplicate.
    const before = await articleCount();
    const again = await post(editor, '/console/articles/new/paste', {
      body: LAVROV,
      format: 'text',
    });
    expect(again.headers.location).toBe(`/console/articles/${id}?ingested=updated`);
    expect(await articleCount()).toBe(before);
  });

  it('refuses a bad paste with the reason next to the field, the text kept, nothing stored', async () => {
    const before = await articleCount();
    const empty = await post(editor, '/console/articles/new/paste', {
      body: '   ',
      format: 'text',
    });
    expect(empty.statusCode).toBe(422);
    expect(empty.body).toContain('paste the article text');
    expect(empty.body).toMatch(/id="paste-body"[^>]*aria-invalid="true"/);
    const badJson = await post(editor, '/console/articles/new/paste', {
      body: '{"title": "half',
      format: 'json',
    });
    expect(badJson.statusCode).toBe(422);
    expect(badJson.body).toContain('The article was not stored.');
    // The user's text comes back in the form.
    expect(badJson.body).toContain('{&quot;title&quot;: &quot;half');
    const badFormat = await post(editor, '/console/articles/new/paste', {
      body: 'Title\n\nText.',
      format: 'pdf',
    });
    expect(badFormat.statusCode).toBe(422);
    expect(badFormat.body).toContain('format must be one of');
    const tooBig = await post(editor, '/console/articles/new/paste', {
      body: `Big\n\n${'word '.repeat(120_000)}`,
      format: 'text',
    });
    expect(tooBig.statusCode).toBe(422);
    expect(tooBig.body).toMatch(/the limit for text is 512 kB/);
    expect(await articleCount()).toBe(before);
  });

  it('refuses a paste from ops (403) and one without the CSRF token (403): nothing stored', async () => {
    const before = await articleCount();
    const asOps = await post(ops, '/console/articles/new/paste', { body: CHIPS_MD });
    expect(asOps.statusCode).toBe(403);
    expect(asOps.body).toContain('not available to your role');
    const noCsrf = await post(editor, '/console/articles/new/paste', { body: CHIPS_MD }, false);
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.body).toContain('did not come from Herald');
    expect(await articleCount()).toBe(before);
    expect((await get(ops, '/console/articles')).statusCode).toBe(403);
    expect((await get(ops, '/console/topics')).statusCode).toBe(403);
    const signedOut = await server.inject({ url: '/console/articles/new' });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toMatch(/^\/console\/login\?next=/);
  });

  it('ingests an uploaded file (format from its extension) and refuses empty, oversized and unsigned uploads', async () => {
    const ok = multipartBody(
      { _csrf: editor.csrf },
      { name: 'chips.md', type: 'application/octet-stream', content: CHIPS_MD },
    );
    const stored = await server.inject({
      method: 'POST',
      url: '/console/articles/new/upload',
      headers: { cookie: editor.cookie, ...ok.headers },
      payload: ok.payload,
    });
    expect(stored.statusCode, stored.body.slice(0, 300)).toBe(303);
    const id = Number(/(\d+)/.exec(stored.headers.location ?? '')?.[1]);
    expect((await getArticle(app.store.db, id))?.title).toBe(
      'China pours billions into chip industry',
    );

    const before = await articleCount();
    const upload = (
      fields: Record<string, string>,
      file: Parameters<typeof multipartBody>[1],
      who = editor,
    ) => {
      const body = multipartBody(fields, file);
      return server.inject({
        method: 'POST',
        url: '/console/articles/new/upload',
        headers: { cookie: who.cookie, ...body.headers },
        payload: body.payload,
      });
    };
    const none = await upload({ _csrf: editor.csrf }, null);
    expect(none.statusCode).toBe(422);
    expect(none.body).toContain('choose a file to upload');
    const big = await upload(
      { _csrf: editor.csrf },
      {
        name: 'big.html',
        type: 'text/html',
        content: `<p>${'x'.repeat(2 * 1024 * 1024 + 10)}</p>`,
      },
    );
    expect(big.statusCode).toBe(413);
    expect(big.body).toContain('too large: the file is over the 2 MB limit');
    const notText = await upload(
      { _csrf: editor.csrf },
      { name: 'photo.txt', type: 'text/plain', content: Buffer.from([0, 1, 2, 3, 255, 0]) },
    );
    expect(notText.statusCode).toBe(422);
    expect(notText.body).toMatch(/binary data/);
    const unsigned = await upload(
      {},
      {
        name: 'chips2.md',
        type: 'text/markdown',
        content: CHIPS_MD.replace('billions', 'millions'),
      },
    );
    expect(unsigned.statusCode).toBe(403);
    const asOps = await upload(
      { _csrf: ops.csrf },
      {
        name: 'chips3.md',
        type: 'text/markdown',
        content: CHIPS_MD.replace('billions', 'trillions'),
      },
      ops,
    );
    expect(asOps.statusCode).toBe(403);
    expect(await articleCount()).toBe(before);
  });

  it('ingests an article page by URL from an allowed host, the page parsed as HTML', async () => {
    const response = await post(editor, '/console/articles/new/url', {
      url: `${site.base}/article.html`,
    });
    expect(response.statusCode, response.body.slice(0, 400)).toBe(303);
    const id = Number(/(\d+)/.exec(response.headers.location ?? '')?.[1]);
    const article = await getArticle(app.store.db, id);
    expect(article?.title).toBe('Floods hit the delta');
    expect(article?.url).toBe(`${site.base}/article.html`);
    expect(article?.topics).toContain('climate');
  });

  it('refuses loopback, file://, a redirect to a private address, a body over the cap, a timeout and a non-article, each by name, nothing stored', async () => {
    const before = await articleCount();
    const cases: Array<[string, RegExp]> = [
      [
        'http://127.0.0.1/',
        /private address refused: 127\.0\.0\.1 is a private or reserved address/,
      ],
      ['file:///etc/passwd', /only http and https URLs are fetched, not file:/],
      [`${site.base}/to-metadata`, /private address refused: 169\.254\.169\.254/],
      [
        `${site.base}/to-loopback`,
        /private address refused: localhost resolves to a private or reserved address/,
      ],
      [`${site.base}/huge.html`, /too large: the page is over the 2 MB limit/],
      [`${site.base}/slow`, /timeout: the page gave no complete answer within 1000 ms/],
      [`${site.base}/picture.png`, /not an article: the page is image\/png/],
      ['not a url', /is not a URL/],
    ];
    for (const [url, reason] of cases) {
      const response = await post(editor, '/console/articles/new/url', { url });
      expect(response.statusCode, url).toBe(422);
      expect(response.body, url).toMatch(reason);
      // The reason sits next to the URL field, which keeps what was typed.
      expect(response.body, url).toMatch(/id="url-input"[^>]*aria-invalid="true"/);
      expect(response.body, url).toContain('id="url-error"');
    }
    // The metadata address was never asked: the redirect was refused before connecting.
    expect(await articleCount()).toBe(before);
    const empty = await post(editor, '/console/articles/new/url', { url: '' });
    expect(empty.statusCode).toBe(422);
    expect(empty.body).toContain('give the address of the article page');
    const noCsrf = await post(
      editor,
      '/console/articles/new/url',
      { url: `${site.base}/article.html` },
      false,
    );
    expect(noCsrf.statusCode).toBe(403);
    const hitsBefore = site.hits.length;
    const asOps = await post(ops, '/console/articles/new/url', {
      url: `${site.base}/article.html`,
    });
    expect(asOps.statusCode).toBe(403);
    // Refused before any fetch.
    expect(site.hits.length).toBe(hitsBefore);
  });

  it('lists articles with search, topic and date filters and a cursor, and names a bad filter', async () => {
    const all = await get(editor, '/console/articles');
    expect(all.statusCode).toBe(200);
    expect(all.body).toContain('Floods hit the delta');
    expect(all.body).toContain('China pours billions into chip industry');
    const searched = await get(editor, '/console/articles?q=chip&topic=&from=&to=');
    expect(searched.statusCode).toBe(200);
    expect(searched.body).toContain('China pours billions');
    expect(searched.body).not.toContain('Floods hit the delta');
    const byTopic = await get(editor, '/console/articles?topic=climate');
    expect(byTopic.body).toContain('Floods hit the delta');
    expect(byTopic.body).not.toContain('China pours billions');
    const future = await get(editor, '/console/articles?from=2999-01-01');
    expect(future.body).toContain('No article matches');
    const paged = await get(editor, '/console/articles?limit=1');
    const next = /href="([^"]*cursor=[^"]+)"/.exec(paged.body)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toBeTruthy();
    const second = await get(editor, next!);
    expect(second.statusCode).toBe(200);
    expect(second.body).toContain('Newest');
    const bad = await get(editor, '/console/articles?from=2026-02-30&topic=Not%20A%20Topic');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/id="filter-from-error">from must be an ISO-8601 date/);
    expect(bad.body).toContain('id="filter-topic-error"');
    const badCursor = await get(editor, '/console/articles?cursor=nonsense');
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.body).toContain('cursor must be the');
  });

  it('overrides the topics (kept as chosen), refuses unknown ids, ops and a missing token', async () => {
    const id = await paste(CHIPS_MD.replace('billions', 'a fortune'));
    const original = (await getArticle(app.store.db, id))!.topics;
    const unknown = await post(editor, `/console/articles/${id}/topics`, {
      topics: ['climate', 'no-such-topic'],
    });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.body).toContain('unknown topic id: no-such-topic');
    const asOps = await post(ops, `/console/articles/${id}/topics`, { topics: ['climate'] });
    expect(asOps.statusCode).toBe(403);
    const noCsrf = await post(
      editor,
      `/console/articles/${id}/topics`,
      { topics: ['climate'] },
      false,
    );
    expect(noCsrf.statusCode).toBe(403);
    expect((await getArticle(app.store.db, id))!.topics).toEqual(original);
    expect(await topicsOverridden(app.store.db, id)).toBe(false);

    const saved = await post(editor, `/console/articles/${id}/topics`, {
      topics: ['economy', 'climate'],
    });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe(`/console/articles/${id}?saved=topics`);
    expect((await getArticle(app.store.db, id))!.topics).toEqual(['economy', 'climate']);
    expect(await topicsOverridden(app.store.db, id)).toBe(true);
    const page = await get(editor, saved.headers.location!);
    expect(page.body).toContain('Topics saved.');
    expect(page.body).toContain('Chosen by an editor');
    expect(page.body).toMatch(/id="topic-climate"[^>]*checked/);
    expect(page.body).not.toMatch(/id="topic-technology"[^>]*checked/);
    expect((await get(editor, '/console/articles/99999999')).statusCode).toBe(404);
    expect((await get(editor, '/console/articles/abc')).statusCode).toBe(404);
  });

  it('refuses to delete an article a sending campaign uses, with the campaign named; deletes it otherwise', async () => {
    const id = await paste(LAVROV.replace('Lavrov', 'Lavrov (updated)'));
    const { campaign } = await createCampaign(
      app.store.db,
      createCampaignSchema.parse({ articleIds: [id] }),
      new Date().toISOString(),
    );
    await app.store.db
      .updateTable('campaigns')
      .set({ status: 'sending' })
      .where('id', '=', campaign.id)
      .execute();
    const page = await get(editor, `/console/articles/${id}`);
    expect(page.body).toContain(`campaign ${campaign.id}</a> (sending)`);
    const refused = await post(editor, `/console/articles/${id}/delete`, {});
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain(
      `cannot be deleted while campaign ${campaign.id} (sending) uses it`,
    );
    expect(await getArticle(app.store.db, id)).not.toBeNull();

    await app.store.db
      .updateTable('campaigns')
      .set({ status: 'sent' })
      .where('id', '=', campaign.id)
      .execute();
    expect((await post(ops, `/console/articles/${id}/delete`, {})).statusCode).toBe(403);
    expect((await post(editor, `/console/articles/${id}/delete`, {}, false)).statusCode).toBe(403);
    expect(await getArticle(app.store.db, id)).not.toBeNull();
    const deleted = await post(editor, `/console/articles/${id}/delete`, {});
    expect(deleted.statusCode).toBe(303);
    expect(deleted.headers.location).toBe(`/console/articles?deleted=${id}`);
    expect(await getArticle(app.store.db, id)).toBeNull();
    expect((await get(editor, deleted.headers.location!)).body).toContain(
      `Article ${id} was deleted.`,
    );
    expect((await post(editor, `/console/articles/${id}/delete`, {})).statusCode).toBe(404);
  });

  it('answers malformed bodies from a signed-in editor with a 4xx page, never a 5xx, nothing stored', async () => {
    const before = await articleCount();
    const twoFiles = multipartBody(
      { _csrf: editor.csrf },
      { name: 'a.txt', type: 'text/plain', content: 'A\n\nB.' },
    );
    const second = Buffer.from(
      twoFiles.payload
        .toString('latin1')
        .replace(/--$|--\r\n$/, '')
        .replace(/(--[^\r]+)--\r\n$/, '$1\r\n'),
    );
    const attempts: Array<{ url: string; type: string; payload: string | Buffer }> = [
      {
        url: '/console/articles/new/upload',
        type: 'multipart/form-data; boundary=nope',
        payload: 'garbage',
      },
      { url: '/console/articles/new/upload', type: 'multipart/form-data', payload: '--x\r\n' },
      {
        url: '/console/articles/new/upload',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&file=x`,
      },
      {
        url: '/console/articles/new/upload',
        type: twoFiles.headers['content-type']!,
        payload: second,
      },
      {
        url: '/console/articles/new/paste',
        type: 'application/json',
        payload: JSON.stringify({ _csrf: editor.csrf, body: 123 }),
      },
      {
        url: '/console/articles/new/paste',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&body=a&body=b`,
      },
      { url: '/console/articles/new/url', type: 'text/plain', payload: 'http://example.org/' },
      {
        url: '/console/articles/new/url',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&url=${'a'.repeat(3000)}`,
      },
      {
        url: '/console/articles/1/topics',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&${Array.from({ length: 300 }, (_, i) => `topics=t${i}`).join('&')}`,
      },
      {
        url: '/console/topics/climate/test',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&source=nonsense`,
      },
      {
        url: '/console/topics/NOT_A_SLUG/test',
        type: 'application/x-www-form-urlencoded',
        payload: `_csrf=${editor.csrf}&source=article&article=1`,
      },
    ];
    for (const attempt of attempts) {
      const response = await server.inject({
        method: 'POST',
        url: attempt.url,
        headers: { cookie: editor.cookie, 'content-type': attempt.type },
        payload: attempt.payload,
      });
      expect(response.statusCode, `${attempt.url} ${attempt.type}`).toBeGreaterThanOrEqual(400);
      expect(
        response.statusCode,
        `${attempt.url} ${attempt.type}: ${response.body.slice(0, 200)}`,
      ).toBeLessThan(500);
    }
    const longQuery = await get(editor, `/console/articles?q=${'x'.repeat(300)}`);
    expect(longQuery.statusCode).toBe(400);
    expect(longQuery.body).toContain('q is at most 200 characters');
    expect(await articleCount()).toBe(before);
  });

  it('lists topics with followers and recent articles, and shows a topic’s rules', async () => {
    const list = await get(editor, '/console/topics');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('href="/console/topics/climate"');
    expect(list.body).toContain('Floods hit the delta');
    expect(list.body).toMatch(/followers|follower/);
    const topic = await get(editor, '/console/topics/russia-china-relations');
    expect(topic.statusCode).toBe(200);
    expect(topic.body).toContain('Rules');
    expect(topic.body).toContain('Kremlin');
    expect(topic.body).toContain('Beijing');
    expect((await get(editor, '/console/topics/no-such-topic')).statusCode).toBe(404);
    expect((await get(editor, '/console/topics/..%2F..')).statusCode).toBe(404);
  });

  it('tests a topic’s rules on a stored article and on pasted text, storing nothing', async () => {
    const lavrov = await paste(LAVROV);
    const before = await articleCount();
    const stored = await post(editor, '/console/topics/russia-china-relations/test', {
      source: 'article',
      article: String(lavrov),
    });
    expect(stored.statusCode).toBe(200);
    expect(stored.body).toContain('would be tagged');
    expect(stored.body).toMatch(/Lavrov \(\d+\)/);
    const pasted = await post(editor, '/console/topics/russia-china-relations/test', {
      source: 'text',
      format: 'detect',
      body: CHIPS_MD,
    });
    expect(pasted.statusCode).toBe(200);
    expect(pasted.body).toContain('would not be tagged');
    expect(pasted.body).toContain('too weak');
    // It names the topics the text would get instead.
    expect(pasted.body).toContain('href="/console/topics/technology"');
    expect(await articleCount()).toBe(before);

    const noArticle = await post(editor, '/console/topics/climate/test', {
      source: 'article',
      article: '',
    });
    expect(noArticle.statusCode).toBe(422);
    expect(noArticle.body).toContain('id="test-article-error">pick an article');
    const gone = await post(editor, '/console/topics/climate/test', {
      source: 'article',
      article: '99999999',
    });
    expect(gone.statusCode).toBe(422);
    expect(gone.body).toContain('there is no article 99999999');
    const emptyText = await post(editor, '/console/topics/climate/test', {
      source: 'text',
      body: ' ',
    });
    expect(emptyText.statusCode).toBe(422);
    expect(emptyText.body).toContain('id="test-body-error">paste the article text');
    const badJson = await post(editor, '/console/topics/climate/test', {
      source: 'text',
      format: 'json',
      body: '[1',
    });
    expect(badJson.statusCode).toBe(422);
    expect(
      (
        await post(ops, '/console/topics/climate/test', {
          source: 'article',
          article: String(lavrov),
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await post(
          editor,
          '/console/topics/climate/test',
          { source: 'article', article: String(lavrov) },
          false,
        )
      ).statusCode,
    ).toBe(403);
    expect(await articleCount()).toBe(before);
  });
});
