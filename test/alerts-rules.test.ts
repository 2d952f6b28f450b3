// Alert rules as data: validated on the way in (a 400 naming the field), listed, removed;
// with no rules nothing becomes an alert.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertForArticle } from '../src/alerts/create.ts';
import { type App, createApp } from '../src/app.ts';
import { saveArticle } from '../src/articles/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

describe('alert rules API (sqlite)', () => {
  let t: TestStore;
  let app: App;
  let http: FastifyInstance;
  let editor: string;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        QUEUE_PREFIX: uniqueName('rules'),
        LOG_LEVEL: 'silent',
      }),
    );
    await ensureCatalogue(app.store.db);
    http = await buildServer(app);
    editor = (await createApiKey(app.store.db, 'editor')).key;
  });
  afterAll(async () => {
    await http?.close();
    await app?.close();
    await t?.dispose();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    http.inject({
      method,
      url,
      headers: { authorization: `Bearer ${editor}` },
      ...(payload ? { payload } : {}),
    });

  it('makes no alert while there is no rule (off by default)', async () => {
    const { article } = await saveArticle(app.store.db, {
      title: 'Putin and Xi sign Russia-China energy pact in Moscow',
      paragraphs: [
        'Russia and China signed an energy pact as Vladimir Putin hosted Xi Jinping in Moscow.',
        'The Kremlin said Moscow and Beijing would deepen their partnership.',
      ],
      topics: [],
    });
    expect(article.topics).toContain('russia-china-relations');
    const deps = {
      db: app.store.db,
      config: app.config,
      queues: openQueues(app),
      now: () => new Date(),
      logger: app.logger,
    };
    expect(await alertForArticle(deps, article)).toBeNull();
  });

  it('validates, stores, lists and removes rules', async () => {
    const noHold = await call('POST', '/api/alert-rules', { topic: 'china', mode: 'hold' });
    expect(noHold.statusCode).toBe(400);
    expect(noHold.json().details).toEqual([expect.objectContaining({ field: 'hold' })]);
    const badMode = await call('POST', '/api/alert-rules', { topic: 'china', mode: 'now' });
    expect(badMode.json().details).toEqual([expect.objectContaining({ field: 'mode' })]);
    const unknown = await call('POST', '/api/alert-rules', { topic: 'mars', mode: 'approval' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().details).toEqual([expect.objectContaining({ field: 'topic' })]);

    const created = await call('POST', '/api/alert-rules', {
      topic: 'russia-china-relations',
      mode: 'hold',
      hold: '15m',
      minStrength: 10,
    });
    expect(created.statusCode).toBe(201);
    const rule = created.json();
    expect(rule).toMatchObject({ mode: 'hold', holdSeconds: 900, minStrength: 10, enabled: true });
    expect((await call('GET', '/api/alert-rules')).json()).toEqual([rule]);
    expect((await call('DELETE', `/api/alert-rules/${rule.id}`)).statusCode).toBe(200);
    expect((await call('DELETE', `/api/alert-rules/${rule.id}`)).statusCode).toBe(404);
    expect((await call('GET', '/api/alert-rules')).json()).toEqual([]);
  });

  it('an article posted to the API trips a rule as a feed item does: one draft alert', async () => {
    const created = await call('POST', '/api/alert-rules', {
      topic: 'russia-china-relations',
      mode: 'approval',
    });
    expect(created.statusCode).toBe(201);
    const body = [
      'Xi and Putin meet in Beijing to deepen Russia-China ties',
      '',
      'Chinese leader Xi Jinping hosted Russian President Vladimir Putin in Beijing, where Russia and China pledged a deeper partnership.',
      '',
      'Moscow and Beijing said the Russia-China relationship had never been stronger.',
    ].join('\n');
    const post = () =>
      http.inject({
        method: 'POST',
        url: '/api/articles',
        headers: { authorization: `Bearer ${editor}`, 'content-type': 'text/plain' },
        payload: body,
      });
    const first = await post();
    expect(first.statusCode).toBe(201);
    const alert = first.json().alert;
    expect(alert).toMatchObject({ mode: 'approval', sendAt: null, created: true });
    const campaign = (
      await http.inject({
        method: 'GET',
        url: `/api/campaigns/${alert.campaignId}`,
        headers: { authorization: `Bearer ${editor}` },
      })
    ).json();
    expect(campaign).toMatchObject({ status: 'draft', template: 'alert' });
    // The same article again is no new article: no second alert.
    const again = await post();
    expect(again.statusCode).toBe(200);
    expect(again.json().alert).toBeUndefined();
    await call('DELETE', `/api/alert-rules/${created.json().id}`);
  });

  it('does the same from the CLI, one JSON document per command', async () => {
    const env = { ...process.env, DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent' };
    const herald = (...args: string[]) =>
      promisify(execFile)('node', ['bin/herald.js', ...args], { env });
    const refused = await herald('alerts', 'add', '--topic', 'china', '--mode', 'hold').catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused).toMatchObject({ code: 2 });
    expect((refused as { stderr: string }).stderr).toMatch(/^herald: hold: a hold rule needs/);
    const added = JSON.parse(
      (
        await herald(
          'alerts',
          'add',
          '--topic',
          'climate',
          '--mode',
          'approval',
          '--min-strength',
          '5',
          '--json',
        )
      ).stdout,
    );
    expect(added).toMatchObject({ topic: 'climate', mode: 'approval', minStrength: 5 });
    expect(JSON.parse((await herald('alerts', 'list', '--json')).stdout)).toEqual([added]);
  }, 240_000);
});
