import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countLedger, insertLedgerRows, recordOutcomes } from '../src/ledger/ledger.ts';
import { openStore } from '../src/store/db.ts';
import { emailHashSql } from '../src/store/email-hash-sql.ts';
import { appliedMigrations, migrateToLatest } from '../src/store/migrations.ts';
import { emailHash } from '../src/subscribers/identity.ts';
import { insertCampaign } from './helpers/rows.ts';
import { createTestTarget, DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

describe.each(DIALECTS)('store on %s', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('migrates from empty, and a second run applies nothing', async () => {
    const created = await createTestTarget(dialect);
    const store = await openStore(created.target, { migrate: false });
    try {
      const first = await migrateToLatest(store.db, dialect);
      expect(first[0]).toBe('0001_initial');
      expect(first).toEqual([...first].sort());
      const second = await migrateToLatest(store.db, dialect);
      expect(second).toEqual([]);
      expect(await appliedMigrations(store.db)).toEqual(first);
      // Reopening (as every process start does) also leaves the schema alone.
      await store.close();
      const reopened = await openStore(created.target);
      expect(await appliedMigrations(reopened.db)).toEqual(first);
      await reopened.close();
    } finally {
      await created.dispose();
    }
  });

  const newCampaign = () => insertCampaign(t.store.db);

  it('keeps one ledger row per campaign and recipient', async () => {
    const campaignId = await newCampaign();
    const now = new Date().toISOString();
    await insertLedgerRows(t.store.db, campaignId, [{ subscriberId: 1 }, { subscriberId: 2 }], now);
    // Re-running the same fan-out (a retried job) adds nothing.
    await insertLedgerRows(t.store.db, campaignId, [{ subscriberId: 2 }, { subscriberId: 3 }], now);
    const counts = await countLedger(t.store.db, campaignId);
    expect(counts.total).toBe(3);
    expect(counts.pending).toBe(3);
    // A raw duplicate insert is refused by the primary key.
    await expect(
      t.store.db
        .insertInto('deliveries')
        .values({ campaign_id: campaignId, subscriber_id: 1, status: 'pending', updated_at: now })
        .execute(),
    ).rejects.toThrow();
  });

  it('records outcomes in batches and counts them by status', async () => {
    const campaignId = await newCampaign();
    const now = new Date().toISOString();
    await insertLedgerRows(
      t.store.db,
      campaignId,
      [1, 2, 3, 4].map((subscriberId) => ({ subscriberId })),
      now,
    );
    await recordOutcomes(
      t.store.db,
      campaignId,
      [
        { subscriberId: 1, status: 'sent', reply: '250 ok', attempted: true },
        { subscriberId: 2, status: 'sent', reply: '250 ok', attempted: true },
        { subscriberId: 3, status: 'bounced', reply: '550 no such user', attempted: true },
      ],
      now,
    );
    const counts = await countLedger(t.store.db, campaignId);
    expect(counts).toMatchObject({ total: 4, sent: 2, bounced: 1, pending: 1 });
    const bounced = await t.store.db
      .selectFrom('deliveries')
      .selectAll()
      .where('campaign_id', '=', campaignId)
      .where('subscriber_id', '=', 3)
      .executeTakeFirstOrThrow();
    expect(bounced.last_reply).toBe('550 no such user');
    expect(bounced.attempts).toBe(1);
    expect(bounced.sent_at).toBeNull();
  });

  it('inserts 100k ledger rows in one batched call', async () => {
    const campaignId = await newCampaign();
    const entries = Array.from({ length: 100_000 }, (_, i) => ({ subscriberId: i + 1 }));
    const started = performance.now();
    await insertLedgerRows(t.store.db, campaignId, entries, new Date().toISOString());
    const elapsedMs = performance.now() - started;
    const counts = await countLedger(t.store.db, campaignId);
    expect(counts.total).toBe(100_000);
    expect(counts.pending).toBe(100_000);
    // Reported, not asserted: timings belong to `npm run bench`.
    console.info(`[${dialect}] 100k ledger rows inserted in ${elapsedMs.toFixed(0)} ms`);
  });

  it('computes the suppression hash in SQL exactly as emailHash does', async () => {
    const addresses = ['Anna.Smith@example.com', 'bob+news@example.net', 'x_Y-z.9@sub.example.org'];
    for (const address of addresses) {
      const { rows } = await sql<{ hash: string }>`select ${emailHashSql(
        t.store.db,
        sql.val(address),
      )} as hash`.execute(t.store.db);
      expect(rows[0]?.hash).toBe(emailHash(address));
    }
  });

  it('enforces unique subscriber emails and topic follows', async () => {
    const now = new Date().toISOString();
    const values = {
      email: 'a@example.org',
      status: 'active' as const,
      created_at: now,
      updated_at: now,
    };
    const { id } = await t.store.db
      .insertInto('subscribers')
      .values(values)
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(t.store.db.insertInto('subscribers').values(values).execute()).rejects.toThrow();
    await t.store.db
      .insertInto('subscriptions')
      .values({ subscriber_id: id, topic_id: 'china', created_at: now })
      .execute();
    await expect(
      t.store.db
        .insertInto('subscriptions')
        .values({ subscriber_id: id, topic_id: 'china', created_at: now })
        .execute(),
    ).rejects.toThrow();
  });
});

describe('store on postgres beside other schemas', () => {
  it('introspects and migrates its own schema only, so schemas of other tenants (created or dropped meanwhile) do not reach it', async () => {
    const own = await openTestStore('postgres');
    const other = await createTestTarget('postgres');
    const otherStore = await openStore(other.target, { migrate: false });
    try {
      // Another tenant's schema holding a table that shares a Herald name.
      await sql`create table deliveries (x int)`.execute(otherStore.db);
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(
        own.store.db,
      );
      const tables = await own.store.db.introspection.getTables({ withInternalKyselyTables: true });
      expect(new Set(tables.map((table) => table.schema))).toEqual(new Set([rows[0]?.schema]));
      expect(tables.map((table) => table.name)).toContain('kysely_migration');
      const deliveries = tables.find((table) => table.name === 'deliveries');
      expect(deliveries?.columns.map((column) => column.name)).toContain('campaign_id');
      // Dropping the other schema while this store migrates again changes nothing here.
      await otherStore.close();
      const [again] = await Promise.all([
        migrateToLatest(own.store.db, 'postgres'),
        other.dispose(),
      ]);
      expect(again).toEqual([]);
    } finally {
      await otherStore.close().catch(() => {});
      await own.dispose();
    }
  });
});
