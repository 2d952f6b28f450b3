// "Erase my data" leaves no copy of the address anywhere in the store: after the erase, every
// string value of every row of every table (listed from the database itself, so tables added
// later are covered too) is searched for the address in any letter case.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLedgerRows, recordOutcomes } from '../src/ledger/ledger.ts';
import type { Database } from '../src/store/schema.ts';
import { ingestReport } from '../src/subscribers/bounces.ts';
import {
  addSuppression,
  applyBounce,
  eraseSubscriber,
  redactAddress,
  suppressionOf,
  unsubscribe,
} from '../src/subscribers/events.ts';
import { upsertSubscriber } from '../src/subscribers/repository.ts';
import { signToken } from '../src/tokens/index.ts';
import { insertCampaign, insertTopics } from './helpers/rows.ts';
import { DIALECTS, openTestStore, ownTables, type TestStore } from './helpers/stores.ts';

const SECRET = 'erase-test-secret-0123456789abcdef';
const DSN = join(import.meta.dirname, 'fixtures', 'dsn', 'hard-bounce.eml');

/** Every string value in the store, as `table.column: value`, read table by table. */
async function everyStoredString(db: Kysely<Database>): Promise<string[]> {
  const tables = await ownTables(db, { withInternalKyselyTables: true });
  expect(tables.map((t) => t.name)).toEqual(
    expect.arrayContaining(['subscribers', 'deliveries', 'events', 'suppressions']),
  );
  const found: string[] = [];
  for (const table of tables) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table.name)}`.execute(
      db,
    );
    for (const row of rows.rows) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === 'string') found.push(`${table.name}.${column}: ${value}`);
      }
    }
  }
  return found;
}

describe.each(DIALECTS)('erase leaves no copy of the address (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('finds the address in no text column of any table after the erase', async () => {
    const db = t.store.db;
    await insertTopics(db, ['economy']);
    const address = 'Erase.Me_100@Example.org';
    const { id } = await upsertSubscriber(db, {
      email: address,
      name: 'Erin Erasable',
      topics: ['economy'],
    });
    const { id: other } = await upsertSubscriber(db, { email: 'keep@example.org' });

    // Campaign 1: the SMTP server refused the address, quoting it (upper case) in its reply.
    const first = await insertCampaign(db, { status: 'sending' });
    const now = new Date().toISOString();
    await insertLedgerRows(db, first, [{ subscriberId: id }, { subscriberId: other }], now);
    const refused = '550 5.1.1 <ERASE.ME_100@EXAMPLE.ORG>: Recipient address rejected';
    await recordOutcomes(
      db,
      first,
      [
        { subscriberId: id, status: 'bounced', reply: refused, attempted: true },
        { subscriberId: other, status: 'sent', reply: '250 2.0.0 Ok', attempted: true },
      ],
      now,
    );
    await applyBounce(db, { subscriberId: id, campaignId: first, kind: 'hard', reply: refused });

    // Campaign 2: a DSN whose diagnostic quotes the address (events.detail, last_reply).
    const second = await insertCampaign(db, { status: 'sending' });
    await insertLedgerRows(db, second, [{ subscriberId: id }], now);
    const dsn = readFileSync(DSN, 'utf8')
      .replaceAll('{{VERP}}', signToken(SECRET, 'bounce', { subscriberId: id, campaignId: second }))
      .replaceAll('nobody@example.net', 'erase.me_100@example.ORG');
    expect(await ingestReport(db, dsn, { secret: SECRET })).toMatchObject({ ok: true });
    // A complaint, an unsubscribe, a manual suppression whose note names the address, and a
    // DSN for someone else that quotes it (a forward).
    await applyBounce(db, {
      subscriberId: id,
      campaignId: first,
      kind: 'complaint',
      reply: `ARF abuse from ${address}`,
    });
    await unsubscribe(db, id, { campaignId: first });
    await addSuppression(db, 'keep@example.org', 'manual', `asked by ${address}`);
    await applyBounce(db, {
      subscriberId: other,
      campaignId: first,
      kind: 'soft',
      reply: `452 4.2.2 forwarded to <${address.toLowerCase()}>: mailbox full`,
    });

    const needle = 'erase.me_100@example.org';
    const before = (await everyStoredString(db)).filter((v) => v.toLowerCase().includes(needle));
    // The setup really spread the address over several tables.
    expect(new Set(before.map((v) => v.split('.')[0]))).toEqual(
      new Set(['subscribers', 'deliveries', 'events', 'suppressions']),
    );
    const ledgerRows = await db.selectFrom('deliveries').select('status').execute();

    expect(await eraseSubscriber(db, id)).toBe(true);

    const after = await everyStoredString(db);
    expect(after.filter((v) => v.toLowerCase().includes(needle))).toEqual([]);
    expect(after.filter((v) => v.toLowerCase().includes('erin erasable'))).toEqual([]);
    // What must stay: the hash on the suppression list, the ledger rows (counts derive from
    // them) with their replies' codes, and the other subscriber's data.
    expect(await suppressionOf(db, address)).toBe('erased');
    expect(await db.selectFrom('deliveries').select('status').execute()).toHaveLength(
      ledgerRows.length,
    );
    const reply = await db
      .selectFrom('deliveries')
      .select('last_reply')
      .where('campaign_id', '=', first)
      .where('subscriber_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(reply.last_reply).toBe('550 5.1.1 <[erased address]>: Recipient address rejected');
    expect(await suppressionOf(db, 'keep@example.org')).toBe('manual');
    const keptEvent = await db
      .selectFrom('events')
      .select('detail')
      .where('subscriber_id', '=', other)
      .where('type', '=', 'bounce.soft')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(keptEvent.detail)).toEqual({
      reply: '452 4.2.2 forwarded to <[erased address]>: mailbox full',
    });
  });
});

describe('redactAddress', () => {
  it('replaces the address in any case and leaves look-alikes alone', () => {
    expect(redactAddress('<A.b+c@X.org> and a.b+c@x.org', 'a.b+c@x.org')).toBe(
      '<[erased address]> and [erased address]',
    );
    expect(redactAddress('ab+c@x.org axb+c@x.org', 'a.b+c@x.org')).toBe('ab+c@x.org axb+c@x.org');
  });
});
