// Opens a fresh, empty store on each SQL dialect, so every store test runs on both.
// PostgreSQL tests get a schema of their own; if PostgreSQL does not answer they fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely, TableMetadata } from 'kysely';
import pg from 'pg';
import type { DatabaseTarget } from '../../src/config/index.ts';
import type { Store } from '../../src/store/db.ts';
import type { Database } from '../../src/store/schema.ts';
import { openHeraldStore } from '../../src/topics/store.ts';

export const POSTGRES_URL =
  process.env.HERALD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof DIALECTS)[number];

export interface TestStore {
  store: Store;
  target: DatabaseTarget;
  /** DATABASE_URL that opens this same store from another process. */
  databaseUrl: string;
  dispose(): Promise<void>;
}

let counter = 0;

/** A unique name for test resources (schemas, queue prefixes). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/** Creates an empty database target (a temp SQLite file, or a new PostgreSQL schema). */
export async function createTestTarget(
  dialect: TestDialect,
): Promise<{ target: DatabaseTarget; databaseUrl: string; dispose(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'herald-test-'));
    const path = join(dir, 'herald.sqlite');
    return {
      target: { dialect: 'sqlite', path },
      databaseUrl: `sqlite:${path}`,
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = uniqueName('t').toLowerCase();
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    target: { dialect: 'postgres', url: url.toString() },
    databaseUrl: url.toString(),
    async dispose() {
      const cleaner = new pg.Client({ connectionString: POSTGRES_URL });
      await cleaner.connect();
      await cleaner.query(`drop schema if exists ${schema} cascade`);
      await cleaner.end();
    },
  };
}

/** Opens a migrated, empty store on the dialect. */
export async function openTestStore(dialect: TestDialect): Promise<TestStore> {
  const created = await createTestTarget(dialect);
  const store = await openHeraldStore(created.target);
  return {
    store,
    target: created.target,
    databaseUrl: created.databaseUrl,
    async dispose() {
      await store.close();
      await created.dispose();
    },
  };
}

/** The tables of this store (on PostgreSQL the store's introspection reads its own schema only). */
export async function ownTables(
  db: Kysely<Database>,
  options: { withInternalKyselyTables: boolean } = { withInternalKyselyTables: false },
): Promise<TableMetadata[]> {
  return db.introspection.getTables(options);
}
