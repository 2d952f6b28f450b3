// A fresh store for one bench run (temp SQLite file or a new PostgreSQL schema), filled with
// the fixture article and N subscribers following its topic, inserted in bulk.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Kysely, PostgresAdapter, sql } from 'kysely';
import pg from 'pg';
import { parseArticle } from '../src/articles/parse.ts';
import { saveArticle } from '../src/articles/repository.ts';
import type { StoredArticle } from '../src/articles/schema.ts';
import { chunk } from '../src/store/db.ts';
import type { Database } from '../src/store/schema.ts';
import { ensureCatalogue } from '../src/topics/catalogue.ts';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type BenchDialect = (typeof DIALECTS)[number];

export const POSTGRES_URL =
  process.env.HERALD_BENCH_POSTGRES_URL ??
  process.env.HERALD_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/test';

export const FIXTURE_PATH = resolve(
  import.meta.dirname,
  '../test/fixtures/articles/lavrov-china.txt',
);

export interface BenchTarget {
  /** DATABASE_URL that opens this store from any process. */
  databaseUrl: string;
  dispose(): Promise<void>;
}

/** A unique lower-case name for this run's schema and queue prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}`.toLowerCase();
}

/** Creates an empty database target: a temp SQLite file, or a new PostgreSQL schema. */
export async function createBenchTarget(dialect: BenchDialect): Promise<BenchTarget> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
    return {
      databaseUrl: `sqlite:${join(dir, 'herald.sqlite')}`,
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = uniqueName('bench');
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    databaseUrl: url.toString(),
    async dispose() {
      const cleaner = new pg.Client({ connectionString: POSTGRES_URL });
      await cleaner.connect();
      await cleaner.query(`drop schema if exists ${schema} cascade`);
      await cleaner.end();
    },
  };
}

/** Seeds the topic catalogue and stores the fixture article (tagged by the matcher). */
export async function seedFixtureArticle(db: Kysely<Database>): Promise<StoredArticle> {
  await ensureCatalogue(db);
  const article = parseArticle({ body: readFileSync(FIXTURE_PATH), filename: 'lavrov-china.txt' });
  return (await saveArticle(db, article)).article;
}

/** Inserts `count` active subscribers following `topic`, in one transaction of bulk inserts. */
export async function seedFollowers(
  db: Kysely<Database>,
  count: number,
  topic: string,
): Promise<void> {
  const now = new Date().toISOString();
  const indexes = Array.from({ length: count }, (_, i) => i);
  await db.transaction().execute(async (trx) => {
    for (const part of chunk(indexes, 1_000)) {
      const rows = await trx
        .insertInto('subscribers')
        .values(
          part.map((i) => ({
            email: `reader${i}@bench.example.net`,
            name: `Reader ${i}`,
            status: 'active' as const,
            timezone: 'UTC',
            created_at: now,
            confirmed_at: now,
            updated_at: now,
          })),
        )
        .returning('id')
        .execute();
      await trx
        .insertInto('subscriptions')
        .values(rows.map((row) => ({ subscriber_id: row.id, topic_id: topic, created_at: now })))
        .execute();
    }
  });
  // Statistics, as autovacuum gathers them after a bulk load within a minute: without them
  // PostgreSQL guesses that `status = 'active'` is rare and plans every page as a full scan.
  if (db.getExecutor().adapter instanceof PostgresAdapter)
    await sql`analyze subscribers, subscriptions`.execute(db);
}
