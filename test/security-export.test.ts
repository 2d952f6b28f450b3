// CSV export cannot carry a spreadsheet formula: a cell starting with = + - @, tab or CR is
// prefixed with ' (and the import reads it back as it was).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.ts';
import { createApiKey } from '../src/keys/index.ts';
import { exportSubscribersCsv, importSubscribersCsv } from '../src/subscribers/import.ts';
import { findSubscriberByEmail, upsertSubscriber } from '../src/subscribers/repository.ts';
import { openTestServer } from './helpers/herald.ts';
import { DIALECTS, openTestStore, uniqueName } from './helpers/stores.ts';

const PAYLOAD = "=cmd|' /C calc'!A0";

/** Hostile names and addresses, as a public form or an import could store them. */
const PEOPLE = [
  { email: 'calc@example.org', name: PAYLOAD },
  { email: 'plus@example.org', name: '+1+2' },
  { email: 'minus@example.org', name: "-2+3+cmd|' /C calc'!A0" },
  { email: 'at@example.org', name: "@SUM(1+1)*cmd|' /C calc'!A0" },
  { email: '+leading@example.org', name: 'Plain Name' },
  { email: '-dash@example.org', name: null },
];

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

describe.each(DIALECTS)('CSV export formula injection (%s)', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ app, server, close } = await openTestServer(
      dialect,
      {
        QUEUE_PREFIX: uniqueName('exp'),
        HERALD_SECRET: 'export-test-secret-0123456789abcdef',
        HERALD_DATA_DIR: mkdtempSync(join(tmpdir(), 'herald-export-')),
      },
      async (app) => {
        for (const person of PEOPLE) await upsertSubscriber(app.store.db, person);
        // A tab-led name cannot come through validation (it trims); store one as raw data could.
        await app.store.db
          .updateTable('subscribers')
          .set({ name: '\t=1+1' })
          .where('email', '=', 'plus@example.org')
          .execute();
      },
    ));
  });
  afterAll(async () => {
    await close?.();
  });

  it('prefixes every formula-like cell with a quote, in the file and over the API', async () => {
    const editor = await createApiKey(app.store.db, 'editor');
    const response = await server.inject({
      method: 'GET',
      url: '/api/subscribers/export?format=csv',
      headers: { authorization: `Bearer ${editor.key}` },
    });
    expect(response.statusCode).toBe(200);
    for (const csv of [await text(exportSubscribersCsv(app.store.db)), response.body]) {
      const rows = parse(csv, { columns: true }) as Array<Record<string, string>>;
      expect(rows).toHaveLength(PEOPLE.length);
      for (const row of rows) {
        for (const value of Object.values(row)) expect(value).not.toMatch(/^[=+\-@\t\r]/);
      }
      const calc = rows.find((row) => row.email === 'calc@example.org');
      expect(calc?.name).toBe(`'${PAYLOAD}`);
      expect(rows.find((row) => row.name === 'Plain Name')?.email).toBe("'+leading@example.org");
    }
  });

  it('an exported file imports back to the same names and addresses', async () => {
    const csv = await text(exportSubscribersCsv(app.store.db));
    const fresh = await openTestStore(dialect);
    try {
      const report = await importSubscribersCsv(fresh.store.db, csv, { status: 'active' });
      expect(report).toMatchObject({ imported: PEOPLE.length, rejected: [] });
      for (const person of PEOPLE) {
        const back = await findSubscriberByEmail(fresh.store.db, person.email);
        expect(back?.email).toBe(person.email);
        if (person.email !== 'plus@example.org') expect(back?.name).toBe(person.name);
      }
    } finally {
      await fresh.dispose();
    }
  });
});
