// The redirect bench (`npm run bench -- --only redirects [--dialect …] [--requests N]`): one
// Herald api process answers click redirects from a load generator in a separate process
// (bench/redirect-client.mjs, keep-alive, 64 in flight); afterwards the server is closed
// (flushing the click buffer) and the stored click counts must equal the 302s answered.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { createTrackingVars, registerLinks } from '../src/engagement/tracking.ts';
import { buildServer } from '../src/http/server.ts';
import { chunk } from '../src/store/db.ts';
import type { Database } from '../src/store/schema.ts';
import { engagementDb } from '../src/store/schema-engagement.ts';
import { type BenchDialect, createBenchTarget, uniqueName } from './store.ts';

export interface RedirectResult {
  dialect: BenchDialect;
  requests: number;
  redirects: number;
  other: number;
  elapsedMs: number;
  perSecond: number;
  /** CPU time the api process spent during the run and the final flush (user + system). */
  serverCpuMs: number;
  /** Redirects per CPU-second of the api process: its capacity on one core of its own. */
  perCpuSecond: number;
  storedClicks: number;
  storedReaders: number;
  serverP50Ms: number;
  serverP99Ms: number;
  serverMaxMs: number;
}

const SUBSCRIBERS = 2_000;
const LINKS = [
  'https://news.example.org/a?x=1&y=2',
  'https://example.com/b',
  'https://example.org/c#d',
];
const CONCURRENCY = 64;

/** SUBSCRIBERS subscribers and one sent campaign (a redirect needs only its id and links). */
async function seed(db: Kysely<Database>): Promise<number> {
  const now = new Date().toISOString();
  const indexes = Array.from({ length: SUBSCRIBERS }, (_, i) => i);
  for (const part of chunk(indexes, 500)) {
    await db
      .insertInto('subscribers')
      .values(
        part.map((i) => ({
          email: `reader${i}@bench.example.net`,
          name: null,
          status: 'active' as const,
          created_at: now,
          confirmed_at: now,
          updated_at: now,
        })),
      )
      .execute();
  }
  const row = await db
    .insertInto('campaigns')
    .values({
      subject: 'Redirect bench',
      template: 'alert',
      article_ids: '[]',
      audience_topics: '[]',
      status: 'sent',
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** Runs the client process to completion; returns its JSON line. */
function runClient(
  urlsFile: string,
  total: number,
): Promise<{ ok: number; other: number; elapsedMs: number }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      [
        resolve(import.meta.dirname, 'redirect-client.mjs'),
        urlsFile,
        String(total),
        String(CONCURRENCY),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`redirect client exited with ${code}`));
      else resolveRun(JSON.parse(out.trim()) as { ok: number; other: number; elapsedMs: number });
    });
  });
}

export async function runRedirectBench(
  dialect: BenchDialect,
  requests: number,
): Promise<RedirectResult> {
  const target = await createBenchTarget(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'herald-redirects-'));
  const app = await createApp(
    parseConfig({
      DATABASE_URL: target.databaseUrl,
      LOG_LEVEL: 'silent',
      QUEUE_PREFIX: uniqueName('hr'),
      HERALD_SECRET: 'bench-secret-0123456789-abcdefghijklmnop',
      PUBLIC_URL: 'http://127.0.0.1',
      HERALD_DATA_DIR: dir,
    }),
  );
  try {
    const db = app.store.db;
    const campaignId = await seed(db);
    const indices = await registerLinks(db, campaignId, LINKS);
    const server = await buildServer(app);
    const times = new Float64Array(requests + 1_000);
    let timed = 0;
    server.addHook('onResponse', async (_request, reply) => {
      if (timed < times.length) times[timed++] = reply.elapsedTime;
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    const vars = createTrackingVars(
      { campaignId, linkCount: LINKS.length, opens: false },
      { HERALD_SECRET: app.config.HERALD_SECRET, PUBLIC_URL: base },
    );
    const keys = await db
      .selectFrom('subscribers')
      .select(['id', 'token_key'])
      .orderBy('id')
      .execute();
    const urls = keys.flatMap((row) =>
      vars({ subscriberId: row.id, tokenKey: row.token_key }).clickUrls!.filter((_, i) =>
        indices.includes(i),
      ),
    );
    const urlsFile = join(dir, 'urls.json');
    writeFileSync(urlsFile, JSON.stringify(urls));
    // Warm-up (JIT, link cache), not counted; then the measured run.
    await runClient(urlsFile, 2_000);
    const warmupTimed = timed;
    const cpuBefore = process.cpuUsage();
    const run = await runClient(urlsFile, requests);
    const cpu = process.cpuUsage(cpuBefore);
    // Flush now, inside the measured CPU: recording is part of the cost of a redirect.
    const cpuFlush = process.cpuUsage();
    await server.close();
    const flushCpu = process.cpuUsage(cpuFlush);
    const serverCpuMs = (cpu.user + cpu.system + flushCpu.user + flushCpu.system) / 1000;
    const rows = await engagementDb(db)
      .selectFrom('engagement')
      .select((eb) => [
        eb.fn.sum<number>('count').as('clicks'),
        eb.fn.countAll<number>().as('readers'),
      ])
      .where('campaign_id', '=', campaignId)
      .where('kind', '=', 'click')
      .executeTakeFirstOrThrow();
    const measured = times.slice(warmupTimed, timed).sort();
    return {
      dialect,
      requests,
      redirects: run.ok,
      other: run.other,
      elapsedMs: run.elapsedMs,
      perSecond: (run.ok / run.elapsedMs) * 1000,
      serverCpuMs,
      perCpuSecond: (run.ok / serverCpuMs) * 1000,
      // The warm-up's 2,000 clicks are stored too.
      storedClicks: Number(rows.clicks) - 2_000,
      storedReaders: Number(rows.readers),
      serverP50Ms: percentile(measured, 0.5),
      serverP99Ms: percentile(measured, 0.99),
      serverMaxMs: measured[measured.length - 1] ?? 0,
    };
  } finally {
    await app.close();
    await target.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
