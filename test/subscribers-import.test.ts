// CSV import (good and bad rows, idempotent re-import, --pending), export, the editor API and
// the 100k-row import timing on SQLite (printed, not asserted).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.ts';
import { createApiKey } from '../src/keys/index.ts';
import {
  exportSubscribersCsv,
  exportSubscribersJson,
  importSubscribersCsv,
} from '../src/subscribers/import.ts';
import { findSubscriberByEmail } from '../src/subscribers/repository.ts';
import { addSuppression, suppressionOf } from '../src/subscribers/suppressions.ts';
import { openTestServer } from './helpers/herald.ts';
import { insertTopics } from './helpers/rows.ts';
import { DIALECTS, openTestStore, uniqueName } from './helpers/stores.ts';

const NOW = '2026-01-10T08:00:00.000Z';

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

const CSV = `email,name,topics,timezone,digest
ann@example.org,Ann,russia-china;economy,Europe/Paris,daily
"Bob@Example.ORG","Bob, Jr.",economy,,weekly
not-an-email,Nobody,economy,UTC,off
cara@example.org,Cara,astrology,UTC,off
dan@example.org,Dan,economy,Mars/Olympus,off
erin@example.org,Erin,,America/New_York,hourly
,Empty,economy,UTC,off
suppressed@example.org,Sue,economy,UTC,off
`;

describe.each(DIALECTS)('subscriber import/export on %s', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ app, server, close } = await openTestServer(
      dialect,
      {
        QUEUE_PREFIX: uniqueName('imp'),
        HERALD_SECRET: 'import-test-secret-0123456789-abcdef',
        HERALD_DATA_DIR: mkdtempSync(join(tmpdir(), 'herald-import-')),
      },
      async (app) => {
        await insertTopics(app.store.db, ['russia-china', 'economy']);
        await addSuppression(app.store.db, 'suppressed@example.org', 'manual');
      },
    ));
  });
  afterAll(async () => {
    await close?.();
  });

  it('imports the good rows and reports each bad one with its reason', async () => {
    const report = await importSubscribersCsv(app.store.db, CSV, { status: 'active', now: NOW });
    expect(report.imported).toBe(2);
    expect(report.updated).toBe(0);
    expect(report.rejected).toEqual([
      { line: 4, email: 'not-an-email', reason: expect.stringMatching(/^bad email/) },
      { line: 5, email: 'cara@example.org', reason: 'unknown topic: "astrology"' },
      { line: 6, email: 'dan@example.org', reason: expect.stringMatching(/^bad time zone/) },
      { line: 7, email: 'erin@example.org', reason: expect.stringMatching(/^bad digest/) },
      { line: 8, email: null, reason: expect.stringMatching(/^bad email/) },
      { line: 9, email: 'suppressed@example.org', reason: 'suppressed: manual' },
    ]);
    expect(await findSubscriberByEmail(app.store.db, 'ann@example.org')).toMatchObject({
      name: 'Ann',
      status: 'active',
      topics: ['economy', 'russia-china'],
      timezone: 'Europe/Paris',
      digest: 'daily',
      confirmedAt: NOW,
    });
    // One identity whatever the casing; the address is kept as typed (domain lower-cased).
    const bob = await app.store.db
      .selectFrom('subscribers')
      .select(['email', 'email_display'])
      .where('email', '=', 'bob@example.org')
      .executeTakeFirstOrThrow();
    expect(bob).toEqual({ email: 'bob@example.org', email_display: 'Bob@example.org' });
    expect(await findSubscriberByEmail(app.store.db, 'BOB@example.org')).toMatchObject({
      email: 'Bob@example.org',
      name: 'Bob, Jr.',
      topics: ['economy'],
      timezone: 'UTC',
      digest: 'weekly',
    });
    for (const email of ['cara@example.org', 'dan@example.org', 'erin@example.org']) {
      expect(await findSubscriberByEmail(app.store.db, email)).toBeNull();
    }

    // Idempotent: the same file again updates, creates nothing.
    const again = await importSubscribersCsv(app.store.db, CSV, { status: 'active' });
    expect(again).toMatchObject({ imported: 0, updated: 2 });
    const count = await app.store.db
      .selectFrom('subscribers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(2);

    // A later row for the same address wins; new topics replace old ones.
    const update = await importSubscribersCsv(
      app.store.db,
      'email,topics\nann@example.org,economy\nann@example.org,russia-china\n',
      { status: 'active' },
    );
    expect(update).toMatchObject({ imported: 0, updated: 2, rejected: [] });
    expect((await findSubscriberByEmail(app.store.db, 'ann@example.org'))?.topics).toEqual([
      'russia-china',
    ]);

    await expect(
      importSubscribersCsv(app.store.db, 'name,topics\nx,y\n', { status: 'active' }),
    ).rejects.toThrow(/email/);
  });

  it('an address stored without its typed form takes the first casing imported, then keeps it', async () => {
    await app.store.db
      .insertInto('subscribers')
      .values({
        email: 'zed@example.org',
        email_display: null,
        status: 'active',
        digest: 'off',
        send_hour: 7,
        timezone: 'UTC',
        created_at: NOW,
        updated_at: NOW,
      })
      .execute();
    const display = async () =>
      (
        await app.store.db
          .selectFrom('subscribers')
          .select('email_display')
          .where('email', '=', 'zed@example.org')
          .executeTakeFirstOrThrow()
      ).email_display;
    await importSubscribersCsv(app.store.db, 'email\nZed@Example.org\n', { status: 'active' });
    expect(await display()).toBe('Zed@example.org');
    await importSubscribersCsv(app.store.db, 'email\nZED@example.org\n', { status: 'active' });
    expect(await display()).toBe('Zed@example.org');
    await app.store.db.deleteFrom('subscribers').where('email', '=', 'zed@example.org').execute();
  });

  it('--pending creates pending subscribers and lists who is owed a confirmation', async () => {
    const report = await importSubscribersCsv(
      app.store.db,
      'email,name\nNew1@Example.org,New\nann@example.org,Ann\n',
      { status: 'pending' },
    );
    expect(report).toMatchObject({ imported: 1, updated: 1 });
    // The confirmation goes to the address as typed.
    expect(report.pending.map((p) => p.email)).toEqual(['New1@example.org']);
    expect((await findSubscriberByEmail(app.store.db, 'new1@example.org'))?.status).toBe('pending');
    expect((await findSubscriberByEmail(app.store.db, 'ann@example.org'))?.status).toBe('active');
  });

  it('exports CSV that imports back, and JSON', async () => {
    const csv = await text(exportSubscribersCsv(app.store.db));
    expect(csv.split('\n')[0]).toBe(
      'email,name,topics,timezone,digest,status,send_hour,created_at,confirmed_at',
    );
    expect(csv).toContain('"Bob, Jr."');
    const json = JSON.parse(await text(exportSubscribersJson(app.store.db))) as Array<{
      email: string;
    }>;
    // Exports show the address as typed; importing it back finds the same subscribers.
    expect(json.map((s) => s.email).sort()).toEqual([
      'Bob@example.org',
      'New1@example.org',
      'ann@example.org',
    ]);
    const back = await importSubscribersCsv(app.store.db, csv, { status: 'active' });
    expect(back).toMatchObject({ imported: 0, updated: 3, rejected: [] });
  });

  it('editor API: add, import (CSV body), export, suppressions (remove is admin only)', async () => {
    const editor = { authorization: `Bearer ${(await createApiKey(app.store.db, 'editor')).key}` };
    const admin = { authorization: `Bearer ${(await createApiKey(app.store.db, 'admin')).key}` };

    const added = await server.inject({
      method: 'POST',
      url: '/api/subscribers',
      headers: editor,
      payload: { email: 'api@example.org', topics: 'economy', timezone: 'Asia/Tokyo' },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json().subscriber).toMatchObject({ status: 'active', topics: ['economy'] });
    const badZone = await server.inject({
      method: 'POST',
      url: '/api/subscribers',
      headers: editor,
      payload: { email: 'api2@example.org', timezone: 'Nowhere' },
    });
    expect(badZone.statusCode).toBe(400);
    expect(badZone.json().details[0].field).toBe('timezone');

    const imported = await server.inject({
      method: 'POST',
      url: '/api/subscribers/import',
      headers: { ...editor, 'content-type': 'text/csv' },
      payload: 'email,topics\nviaapi@example.org,economy\nbroken,economy\n',
    });
    expect(imported.statusCode).toBe(200);
    expect(imported.json()).toMatchObject({
      imported: 1,
      rejected: [{ line: 3, email: 'broken', reason: expect.stringMatching(/^bad email/) }],
    });

    const csv = await server.inject({
      method: 'GET',
      url: '/api/subscribers/export?format=csv',
      headers: editor,
    });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toContain('viaapi@example.org');
    const json = await server.inject({
      method: 'GET',
      url: '/api/subscribers/export?format=json',
      headers: editor,
    });
    expect(json.json().some((s: { email: string }) => s.email === 'api@example.org')).toBe(true);
    const unauth = await server.inject({ method: 'GET', url: '/api/subscribers/export' });
    expect(unauth.statusCode).toBe(401);

    const add = await server.inject({
      method: 'POST',
      url: '/api/suppressions',
      headers: editor,
      payload: { email: 'api@example.org', note: 'asked by phone' },
    });
    expect(add.statusCode).toBe(201);
    const list = await server.inject({
      method: 'GET',
      url: '/api/suppressions?reason=manual',
      headers: editor,
    });
    expect(list.json().suppressions.map((s: { email: string }) => s.email)).toContain(
      'api@example.org',
    );
    const forbidden = await server.inject({
      method: 'POST',
      url: '/api/suppressions/remove',
      headers: editor,
      payload: { email: 'api@example.org' },
    });
    expect(forbidden.statusCode).toBe(403);
    const removed = await server.inject({
      method: 'POST',
      url: '/api/suppressions/remove',
      headers: admin,
      payload: { email: 'api@example.org' },
    });
    expect(removed.statusCode).toBe(200);
    expect(await suppressionOf(app.store.db, 'api@example.org')).toBeNull();
    const logged = await app.store.db
      .selectFrom('events')
      .selectAll()
      .where('type', '=', 'suppression.removed')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(logged.detail)).toMatchObject({ reason: 'manual', by: 'admin' });
  });
});

describe('100k-row import on SQLite', () => {
  it('imports 100,000 rows in batched transactions (time printed, not asserted)', async () => {
    const ts = await openTestStore('sqlite');
    try {
      await insertTopics(ts.store.db, ['economy', 'sport']);
      const zones = ['UTC', 'Europe/Paris', 'Asia/Tokyo', 'America/New_York'];
      const lines = ['email,name,topics,timezone,digest'];
      for (let i = 0; i < 100_000; i++) {
        lines.push(
          `reader${i}@example.org,Reader ${i},${i % 2 ? 'economy;sport' : 'economy'},${zones[i % 4]},${i % 3 ? 'off' : 'daily'}`,
        );
      }
      const started = performance.now();
      const cpu = process.cpuUsage();
      const report = await importSubscribersCsv(ts.store.db, `${lines.join('\n')}\n`, {
        status: 'active',
      });
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      const cpuSeconds = (used.user + used.system) / 1e6;
      // Wall time swings with whatever else shares the machine; CPU time is steadier.
      console.log(
        `100k-row CSV import on SQLite: ${seconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU`,
      );
      expect(report.imported).toBe(100_000);
      expect(report.rejected).toEqual([]);
      const follows = await ts.store.db
        .selectFrom('subscriptions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(follows.n)).toBe(150_000);
    } finally {
      await ts.dispose();
    }
  }, 120_000);
});
