// The campaign API and CLI contracts of DESIGN.md: shapes, roles, and 4xx for bad input.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { type RunningHerald, startHerald, testEnv } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

const run = promisify(execFile);

describe('campaign API and CLI', () => {
  let t: TestStore;
  let herald: RunningHerald;
  let articleId: number;
  let editorKey: string;
  let opsKey: string;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    herald = await startHerald(testEnv(t.databaseUrl), false);
    const db = herald.app.store.db;
    articleId = (await seedFixtureArticle(db)).id;
    await seedSubscribers(db, [
      { email: 'ana@example.net', name: 'Ana', topics: ['russia-china-relations'] },
      { email: 'bo@example.net', topics: ['climate'] },
    ]);
    editorKey = (await createApiKey(db, 'editor')).key;
    opsKey = (await createApiKey(db, 'ops')).key;
  });
  afterAll(async () => {
    await herald?.close();
    await t?.dispose();
  });

  it('creates, reads, pauses and cancels over HTTP with the editor role', async () => {
    const server = await buildServer(herald.app);
    const auth = { authorization: `Bearer ${editorKey}` };
    const created = await server.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: auth,
      payload: { articleIds: [articleId], topics: ['russia-china-relations'] },
    });
    expect(created.statusCode).toBe(201);
    const campaign = created.json() as {
      id: number;
      status: string;
      audienceSize: number;
      subject: string;
    };
    expect(campaign).toMatchObject({ status: 'draft', audienceSize: 1 });
    expect(campaign.subject).toMatch(/^Russia’s top diplomat Lavrov/);

    const read = await server.inject({
      method: 'GET',
      url: `/api/campaigns/${campaign.id}`,
      headers: auth,
    });
    expect(read.json()).toMatchObject({ id: campaign.id, counts: { status: 'draft', total: 0 } });

    const paused = await server.inject({
      method: 'POST',
      url: `/api/campaigns/${campaign.id}/pause`,
      headers: auth,
    });
    expect(paused.statusCode).toBe(409);
    expect(paused.json().error).toMatch(/cannot pause campaign \d+: it is draft/);

    const cancelled = await server.inject({
      method: 'POST',
      url: `/api/campaigns/${campaign.id}/cancel`,
      headers: auth,
    });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled' });

    const wrongRole = await server.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: { authorization: `Bearer ${opsKey}` },
      payload: {},
    });
    expect(wrongRole.statusCode).toBe(403);
    const noKey = await server.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}` });
    expect(noKey.statusCode).toBe(401);
    await server.close();
  });

  it('answers bad input with a 4xx naming the field, storing nothing', async () => {
    const server = await buildServer(herald.app);
    const auth = { authorization: `Bearer ${editorKey}` };
    const before = await herald.app.store.db
      .selectFrom('campaigns')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const cases = [
      { payload: { articleIds: [] }, field: 'articleIds' },
      { payload: { articleIds: ['x'] }, field: 'articleIds.0' },
      { payload: { articleIds: [articleId], template: 'poster' }, field: 'template' },
      { payload: { articleIds: [articleId], topics: ['no-such-topic'] }, field: 'topics' },
      { payload: { articleIds: [999_999] }, field: 'articleIds' },
      { payload: { articleIds: [3_000_000_000] }, field: 'articleIds.0' },
      {
        payload: {
          articleIds: [articleId],
          topics: Array.from({ length: 200 }, (_, i) => `t${i}`),
        },
        field: 'topics',
      },
    ];
    for (const { payload, field } of cases) {
      const response = await server.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: auth,
        payload,
      });
      expect(response.statusCode, JSON.stringify(payload)).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      expect(JSON.stringify(response.json().details)).toContain(field);
    }
    const outOfRange = await server.inject({
      method: 'GET',
      url: '/api/campaigns/3000000000',
      headers: auth,
    });
    expect(outOfRange.statusCode).toBe(400);
    const past = await server.inject({
      method: 'POST',
      url: '/api/campaigns/1/schedule',
      headers: auth,
      payload: { at: '2001-01-01T00:00:00Z' },
    });
    expect(past.statusCode).toBeGreaterThanOrEqual(400);
    expect(past.statusCode).toBeLessThan(500);
    const after = await herald.app.store.db
      .selectFrom('campaigns')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    await server.close();
  });

  it('the CLI creates a campaign as JSON, previews it and reports its status', async () => {
    const env = { ...process.env, ...herald.env };
    const created = await run(
      'node',
      [
        'bin/herald.js',
        'campaign',
        'create',
        '--article',
        String(articleId),
        '--topics',
        'russia-china-relations',
        '--json',
      ],
      { env },
    );
    const campaign = JSON.parse(created.stdout) as {
      id: number;
      audienceSize: number;
      status: string;
    };
    expect(campaign).toMatchObject({ status: 'draft', audienceSize: 1 });

    const dir = mkdtempSync(join(tmpdir(), 'herald-preview-'));
    const eml = join(dir, 'ana.eml');
    await run(
      'node',
      [
        'bin/herald.js',
        'campaign',
        'preview',
        String(campaign.id),
        '--to',
        'ana@example.net',
        '--eml',
        eml,
      ],
      { env },
    );
    const parsed = await simpleParser(readFileSync(eml));
    expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toContain('ana@example.net');
    expect(parsed.text).toContain('Lavrov');
    expect(parsed.text).toContain('Russia-China relations');

    const status = await run(
      'node',
      ['bin/herald.js', 'campaign', 'status', String(campaign.id), '--json'],
      { env },
    );
    expect(JSON.parse(status.stdout)).toEqual({
      id: campaign.id,
      status: 'draft',
      total: 0,
      sent: 0,
      failed: 0,
      bounced: 0,
      suppressed: 0,
      pending: 0,
      reason: null,
      scheduledAt: null,
      localTime: null,
    });
  });
});
