// The archive's pages, feeds and switch over HTTP (inject) on both store dialects: which
// campaigns are public, pagination, escaping, caching headers, and 4xx for bad input.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseRssFeed } from 'feedsmith';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archivePath, archiveSlug, isArchivable } from '../src/archive/links.ts';
import { stripForWeb } from '../src/archive/render.ts';
import { createCampaign, moveCampaign } from '../src/campaigns/repository.ts';
import { createApiKey } from '../src/http/auth.ts';
import {
  openTestServer,
  type RunningHerald,
  startHerald,
  type TestServer,
  testEnv,
} from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const run = promisify(execFile);

const TOPIC = 'russia-china-relations';

describe('archive addresses', () => {
  it('slugs are ASCII words, cut at a word boundary; kinds other than campaign are never archived', () => {
    expect(archiveSlug('Russia’s top diplomat: Lavrov in China')).toBe(
      'russia-s-top-diplomat-lavrov-in-china',
    );
    expect(archiveSlug('Café crème à Zürich')).toBe('cafe-creme-a-zurich');
    expect(archiveSlug('北京')).toBe('');
    expect(archivePath({ id: 7, subject: '北京' })).toBe('/archive/7');
    const long = archiveSlug('word '.repeat(40));
    expect(long.length).toBeLessThanOrEqual(60);
    expect(long.endsWith('-')).toBe(false);
    expect(isArchivable({ kind: 'campaign', archive: true })).toBe(true);
    expect(isArchivable({ kind: 'campaign', archive: false })).toBe(false);
    for (const kind of ['digest', 'welcome', 'confirmation'] as const)
      expect(isArchivable({ kind, archive: true })).toBe(false);
  });

  it('the web version keeps no footer, greeting, script, handler or other-host image', () => {
    const { body, styles } = stripForWeb(
      `<html><head><style>a{color:red}</style></head><body>
       <div class="hd-view-online"><a href="https://x.example/archive/1">View in browser</a></div>
       <table><tr><td class="hd-greeting">Hello Ana,</td></tr><tr><td>Story</td></tr></table>
       <img src="https://cdn.example/p.jpg" alt="Lavrov" onerror="alert(1)">
       <img src="https://news.example.org/own.png" alt="own">
       <script>alert(1)</script><a href="javascript:alert(1)" onclick="x()">bad</a>
       <div class="hd-footer"><a href="https://news.example.org/unsubscribe?token=t">Unsubscribe</a></div>
       </body></html>`,
      'https://news.example.org',
    );
    expect(styles).toEqual(['a{color:red}']);
    expect(body).toContain('Story');
    expect(body).toContain('https://news.example.org/own.png');
    expect(body).toMatch(/<a [^>]*href="https:\/\/cdn\.example\/p\.jpg"[^>]*>Photo: Lavrov<\/a>/);
    expect(body).not.toMatch(
      /Hello|View in browser|unsubscribe|<script|onerror|onclick|javascript:/i,
    );
  });
});

describe.each(DIALECTS)('archive over HTTP (%s)', (dialect) => {
  let t: TestServer;
  let editor: { authorization: string };
  const sentIds: number[] = [];
  let hiddenId: number;
  let draftId: number;
  let digestId: number;

  beforeAll(async () => {
    const { DATABASE_URL: _unused, ...env } = testEnv('');
    t = await openTestServer(dialect, env);
    const db = t.app.store.db;
    const article = await seedFixtureArticle(db);
    editor = { authorization: `Bearer ${(await createApiKey(db, 'editor')).key}` };
    // 21 sent newsletters (one more than a page), a minute apart, the last with markup in it.
    for (let i = 0; i < 21; i++) {
      const subject = i === 20 ? 'Lavrov <script>alert("x")</script> & Wang' : `Issue ${i + 1}`;
      const { campaign } = await createCampaign(
        db,
        { articleIds: [article.id], topics: [TOPIC], subject, template: 'alert' },
        new Date(Date.UTC(2026, 10, 1, 8, i)).toISOString(),
      );
      const at = new Date(Date.UTC(2026, 10, 1, 9, i)).toISOString();
      await moveCampaign(db, campaign.id, ['draft'], 'sent', at, { startedAt: at });
      sentIds.push(campaign.id);
    }
    const hidden = await createCampaign(
      db,
      { articleIds: [article.id], topics: [TOPIC], template: 'alert', archive: false },
      new Date().toISOString(),
    );
    hiddenId = hidden.campaign.id;
    await moveCampaign(db, hiddenId, ['draft'], 'sent', new Date().toISOString(), {
      startedAt: new Date().toISOString(),
    });
    draftId = (
      await createCampaign(
        db,
        { articleIds: [article.id], topics: [TOPIC], template: 'alert' },
        new Date().toISOString(),
      )
    ).campaign.id;
    const digest = await db
      .insertInto('campaigns')
      .values({
        kind: 'digest',
        subject: 'Your daily digest',
        template: 'digest',
        article_ids: JSON.stringify([article.id]),
        audience_topics: JSON.stringify([TOPIC]),
        status: 'sent',
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
        started_at: new Date().toISOString(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    digestId = digest.id;
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  const get = (url: string) => t.server.inject({ method: 'GET', url });

  it('pages the topic index newest first, 20 a page, and 404s past the last page', async () => {
    const first = await get(`/archive/topics/${TOPIC}`);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/html/);
    expect(first.headers['cache-control']).toBe('public, max-age=300');
    const links = [...first.body.matchAll(/<h2><a href="\/archive\/(\d+)-/g)].map((m) =>
      Number(m[1]),
    );
    expect(links).toEqual([...sentIds].reverse().slice(0, 20));
    expect(first.body).toContain(`href="/archive/topics/${TOPIC}?page=2"`);
    const second = await get(`/archive/topics/${TOPIC}?page=2`);
    expect(
      [...second.body.matchAll(/<h2><a href="\/archive\/(\d+)-/g)].map((m) => Number(m[1])),
    ).toEqual([sentIds[0]]);
    expect((await get(`/archive/topics/${TOPIC}?page=3`)).statusCode).toBe(404);
    // The whole archive lists the same; the hidden, draft and digest campaigns nowhere.
    const all = await get('/archive');
    for (const id of [hiddenId, draftId, digestId]) {
      expect(all.body).not.toContain(`/archive/${id}-`);
      expect(all.body).not.toContain(`/archive/${id}"`);
    }
  });

  it('escapes what editors wrote: no markup from a subject reaches a page or the feed', async () => {
    const index = await get('/archive');
    expect(index.body).not.toContain('<script>alert');
    expect(index.body).toContain(
      'Lavrov &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Wang',
    );
    const lastId = sentIds[20]!;
    const page = await get(`/archive/${lastId}-lavrov-script-alert-x-script-wang`);
    expect(page.statusCode).toBe(200);
    expect(page.body.match(/.{80}<script.{40}/gi) ?? []).toEqual([]);
    const feed = parseRssFeed((await get('/archive/rss.xml')).body);
    expect(feed.items?.[0]?.title).toBe('Lavrov <script>alert("x")</script> & Wang');
    expect(feed.items).toHaveLength(21);
  });

  it('answers 404 for campaigns that are not public, and redirects other slugs to the canonical', async () => {
    for (const id of [hiddenId, draftId, digestId, 999_999]) {
      const answer = await get(`/archive/${id}`);
      expect(answer.statusCode, `campaign ${id}`).toBe(404);
      expect(answer.headers['content-type']).toMatch(/^text\/html/);
    }
    const moved = await get(`/archive/${sentIds[0]}-old-title`);
    expect(moved.statusCode).toBe(301);
    expect(moved.headers.location).toBe(`/archive/${sentIds[0]}-issue-1`);
    expect((await get('/archive/topics/no-such-topic')).statusCode).toBe(404);
    expect((await get('/archive/topics/no-such-topic/rss.xml')).statusCode).toBe(404);
  });

  it('refuses bad input with a 4xx naming the field', async () => {
    for (const url of ['/archive?page=0', '/archive?page=abc', '/archive/topics/x?page=-1']) {
      const answer = await get(url);
      expect(answer.statusCode, url).toBe(400);
      expect(answer.json().details[0].field).toBe('page');
    }
    const badTopic = await get('/archive/topics/Bad_Topic');
    expect(badTopic.statusCode).toBe(400);
    expect(badTopic.json().details[0].field).toBe('topic');
    expect((await get('/archive/abc')).statusCode).toBe(400);

    const put = (id: number | string, payload: unknown, headers = editor) =>
      t.server.inject({
        method: 'PUT',
        url: `/api/campaigns/${id}/archive`,
        headers,
        payload: payload as object,
      });
    expect((await put(sentIds[0]!, { archive: false }, { authorization: '' })).statusCode).toBe(
      401,
    );
    const notBool = await put(sentIds[0]!, { archive: 'no' });
    expect(notBool.statusCode).toBe(400);
    expect(notBool.json().details[0].field).toBe('archive');
    expect((await put(sentIds[0]!, { archive: false, extra: 1 })).statusCode).toBe(400);
    expect((await put(999_999, { archive: false })).statusCode).toBe(404);
    const digest = await put(digestId, { archive: true });
    expect(digest.statusCode).toBe(409);
    expect(digest.json().details[0].field).toBe('archive');
    // Nothing changed by the refused calls.
    expect((await get(`/archive/${sentIds[0]}-issue-1`)).statusCode).toBe(200);
  });

  it('a campaign created with archive: false says so, and the API rejects a non-boolean', async () => {
    const created = await t.server.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: editor,
      payload: { articleIds: [1], topics: [TOPIC], archive: false },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ archive: false });
    const bad = await t.server.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: editor,
      payload: { articleIds: [1], topics: [TOPIC], archive: 'off' },
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().details)).toContain('archive');
  });
});

describe('archive from the CLI (SQLite)', () => {
  let t: TestStore;
  let herald: RunningHerald;
  let articleId: number;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    herald = await startHerald(testEnv(t.databaseUrl), false);
    articleId = (await seedFixtureArticle(herald.app.store.db)).id;
    await seedSubscribers(herald.app.store.db, [
      { email: 'ana@example.net', name: 'Ana', topics: [TOPIC] },
    ]);
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  it('creates with --no-archive, toggles with campaign archive --on/--off, previews the link', async () => {
    const env = { ...process.env, ...herald.env };
    const cli = async (...args: string[]) =>
      JSON.parse((await run('node', ['bin/herald.js', ...args], { env })).stdout) as Record<
        string,
        unknown
      >;
    const hidden = await cli(
      'campaign',
      'create',
      '--article',
      String(articleId),
      '--no-archive',
      '--json',
    );
    expect(hidden.archive).toBe(false);
    const id = String(hidden.id);
    expect(await cli('campaign', 'archive', id, '--json')).toEqual({
      id: hidden.id,
      archive: false,
      url: null,
    });
    const on = await cli('campaign', 'archive', id, '--on', '--json');
    expect(on).toMatchObject({ id: hidden.id, archive: true });
    expect(on.url).toBe(
      `https://news.example.org/archive/${id}-russia-s-top-diplomat-lavrov-in-china-ahead-of-putin-visit`,
    );

    // An archived campaign's message carries the link in both parts; a kept-out one none.
    const dir = mkdtempSync(join(tmpdir(), 'herald-archive-'));
    const preview = async () => {
      const eml = join(dir, `${Date.now()}.eml`);
      await run(
        'node',
        ['bin/herald.js', 'campaign', 'preview', id, '--to', 'ana@example.net', '--eml', eml],
        { env },
      );
      return simpleParser(readFileSync(eml));
    };
    const linked = await preview();
    expect(linked.text).toMatch(/^View in browser\s+</);
    expect(linked.text).toContain(`<${on.url}>`);
    expect(linked.html).toContain(`href="${on.url}"`);
    expect((await cli('campaign', 'archive', id, '--off', '--json')).archive).toBe(false);
    const unlinked = await preview();
    expect(unlinked.text).not.toContain('/archive/');
    expect(unlinked.html).not.toContain('View in browser');

    const both = await run('node', ['bin/herald.js', 'campaign', 'archive', id, '--on', '--off'], {
      env,
    }).catch((error: { code: number; stderr: string }) => error);
    expect('code' in both && both.code).not.toBe(0);
    expect(both.stderr).toContain('--on or --off');
  }, 120_000);
});
