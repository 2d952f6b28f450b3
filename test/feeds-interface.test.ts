// `herald feeds add|list|poll|remove --json` and /api/feeds: one JSON document per command,
// clear errors naming the field, private addresses only when explicitly allowed, and the
// per-feed job scheduler on the `feeds` queue.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues, type Queues } from '../src/delivery/queues.ts';
import { feedSchedulerId } from '../src/feeds/schedule.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { type FeedServer, startFeedServer } from './helpers/feed-server.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

const run = promisify(execFile);

const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>W</title><link>https://n.example/</link><description>d</description><item><title>Xi and Putin meet in Moscow</title><link>https://n.example/a</link><guid>a</guid><description>Russia and China pledge a partnership.</description><content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[<p>Russian President Vladimir Putin and Chinese leader Xi Jinping met in Moscow on Tuesday and pledged a deeper partnership between Russia and China.</p><p>The Kremlin said the two leaders discussed energy, trade and the war in Ukraine, and that Beijing and Moscow would expand cooperation.</p>]]></content:encoded></item></channel></rss>`;

describe('feeds from the CLI and the API (sqlite)', () => {
  let t: TestStore;
  let app: App;
  let queues: Queues;
  let server: FeedServer;
  let http: FastifyInstance;
  const prefix = uniqueName('feedsif');
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    const vars = { DATABASE_URL: t.databaseUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' };
    env = { ...process.env, ...vars };
    app = await createApp(parseConfig(vars));
    await ensureCatalogue(app.store.db);
    queues = openQueues(app);
    server = await startFeedServer();
    server.routes.set('/rss.xml', { body: RSS, etag: true });
    server.routes.set('/api-rss.xml', { body: RSS });
    http = await buildServer(app);
  });
  afterAll(async () => {
    await http?.close();
    await queues?.feeds.obliterate({ force: true });
    await server?.close();
    await app?.close();
    await t?.dispose();
  });

  const herald = (...args: string[]) => run('node', ['bin/herald.js', ...args], { env });
  const heraldFails = async (...args: string[]) => {
    try {
      await herald(...args);
    } catch (error) {
      return error as { code: number; stderr: string; stdout: string };
    }
    throw new Error(`herald ${args.join(' ')} succeeded`);
  };

  it('adds, lists, polls and removes feeds with one JSON document each', async () => {
    const refused = await heraldFails('feeds', 'add', `${server.base}/rss.xml`, '--json');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^herald: url: 127\.0\.0\.1 is a private or reserved address/);

    const added = JSON.parse(
      (
        await herald(
          'feeds',
          'add',
          `${server.base}/rss.xml`,
          '--name',
          'Wire',
          '--every',
          '2m',
          '--allow-private',
          '--json',
        )
      ).stdout,
    );
    expect(added).toMatchObject({
      name: 'Wire',
      everySeconds: 120,
      allowPrivate: true,
      failures: 0,
    });
    const schedulers = await queues.feeds.getJobSchedulers(0, -1);
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([[feedSchedulerId(added.id), 120_000]]);

    const polled = JSON.parse((await herald('feeds', 'poll', '--json')).stdout);
    expect(polled).toEqual([
      expect.objectContaining({ feedId: added.id, outcome: 'ok', known: 0, broken: [] }),
    ]);
    expect(polled[0].created).toHaveLength(1);
    const again = JSON.parse((await herald('feeds', 'poll', String(added.id), '--json')).stdout);
    expect(again[0]).toMatchObject({ outcome: 'not-modified', created: [] });

    const listed = JSON.parse((await herald('feeds', 'list', '--json')).stdout);
    expect(listed).toEqual([expect.objectContaining({ id: added.id, failing: false })]);
    expect(listed[0].lastSuccessAt).toEqual(expect.any(String));

    expect(
      JSON.parse((await herald('feeds', 'remove', String(added.id), '--json')).stdout),
    ).toEqual({ id: added.id, removed: true });
    expect(await queues.feeds.getJobSchedulers(0, -1)).toEqual([]);
    // Each CLI run starts Node and the app: slow on a loaded machine.
  }, 240_000);

  it('serves /api/feeds to editors, validated, with private addresses for admins only', async () => {
    const editor = (await createApiKey(app.store.db, 'editor')).key;
    const admin = (await createApiKey(app.store.db, 'admin')).key;
    const ops = (await createApiKey(app.store.db, 'ops')).key;
    const call = (key: string, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      http.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}` },
        ...(payload ? { payload } : {}),
      });

    expect((await call(ops, 'GET', '/api/feeds')).statusCode).toBe(403);
    const bad = await call(editor, 'POST', '/api/feeds', {
      url: 'https://n.example/f',
      every: 'x',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details).toEqual([expect.objectContaining({ field: 'every' })]);
    const scheme = await call(editor, 'POST', '/api/feeds', { url: 'file:///etc/passwd' });
    expect(scheme.statusCode).toBe(400);
    expect(scheme.json().details).toEqual([expect.objectContaining({ field: 'url' })]);
    const privateByEditor = await call(editor, 'POST', '/api/feeds', {
      url: `${server.base}/rss.xml`,
      allowPrivate: true,
    });
    expect(privateByEditor.statusCode).toBe(403);

    const created = await call(admin, 'POST', '/api/feeds', {
      url: `${server.base}/api-rss.xml`,
      allowPrivate: true,
      every: '5m',
    });
    expect(created.statusCode).toBe(201);
    const feed = created.json();
    expect(feed).toMatchObject({ everySeconds: 300, allowPrivate: true });
    const duplicate = await call(admin, 'POST', '/api/feeds', {
      url: `${server.base}/api-rss.xml`,
      allowPrivate: true,
    });
    expect(duplicate.statusCode).toBe(409);

    const polled = await call(editor, 'POST', `/api/feeds/${feed.id}/poll`);
    expect(polled.statusCode).toBe(200);
    expect(polled.json()).toMatchObject({ outcome: 'ok', broken: [] });
    expect(polled.json().created.length + polled.json().known).toBe(1);
    expect((await call(editor, 'GET', '/api/feeds')).json()).toEqual([
      expect.objectContaining({ id: feed.id }),
    ]);
    expect((await call(editor, 'POST', '/api/feeds/999/poll')).statusCode).toBe(404);
    expect((await call(editor, 'DELETE', `/api/feeds/${feed.id}`)).statusCode).toBe(200);
    const gone = await call(editor, 'DELETE', `/api/feeds/${feed.id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ error: `no feed ${feed.id}` });
  });
});
