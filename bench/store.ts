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

/**
 * Inserts `count` active subscribers (reader<i>@bench.example.net, i from 0) following `topic`,
 * with two set-based INSERT … SELECT statements over a generated series of numbers (1,000,000
 * subscribers in seconds, where rows carried through Node took minutes).
 */
export async function seedFollowers(
  db: Kysely<Database>,
  count: number,
  topic: string,
): Promise<void> {
  const now = new Date().toISOString();
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const series = postgres
    ? sql`generate_series(0, ${count - 1}) as seq(i)`
    : sql`(with recursive numbers(i) as (select 0 union all select i + 1 from numbers where i < ${count - 1}) select i from numbers) as seq`;
  await db.transaction().execute(async (trx) => {
    await sql`insert into subscribers (email, name, status, timezone, created_at, confirmed_at, updated_at)
      select 'reader' || seq.i || '@bench.example.net', 'Reader ' || seq.i, 'active', 'UTC',
        ${now}, ${now}, ${now}
      from ${series} order by seq.i`.execute(trx);
    await sql`insert into subscriptions (subscriber_id, topic_id, created_at)
      select id, ${topic}, ${now} from subscribers where email like ${'%@bench.example.net'}`.execute(
      trx,
    );
  });
  // Statistics, as autovacuum gathers them after a bulk load within a minute: without them
  // PostgreSQL guesses that `status = 'active'` is rare and plans every page as a full scan.
  if (postgres) await sql`analyze subscribers, subscriptions`.execute(db);
}
