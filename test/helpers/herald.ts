// Runs Herald (app + workers) in the test process against a test store and a fresh queue prefix.

import type { FastifyInstance } from 'fastify';
import { type App, createApp } from '../../src/app.ts';
import { type CampaignStatusReport, campaignStatus } from '../../src/campaigns/repository.ts';
import { parseConfig } from '../../src/config/index.ts';
import type { Queues } from '../../src/delivery/queues.ts';
import { buildServer } from '../../src/http/server.ts';
import type { Service } from '../../src/process/lifecycle.ts';
import { startWorkers } from '../../workers/index.ts';
import { createTestTarget, type TestDialect, uniqueName } from './stores.ts';

export interface RunningHerald {
  app: App;
  queues: Queues;
  workers: Service[];
  prefix: string;
  env: Record<string, string>;
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

/** Test defaults: fast retries and reconciles, small batches, quiet logs. */
export function testEnv(
  databaseUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: uniqueName('hq'),
    LOG_LEVEL: 'silent',
    SEND_RETRY_ATTEMPTS: '6',
    SEND_RETRY_BASE_MS: '50',
    RECONCILE_EVERY_MS: '500',
    BATCH_SIZE: '100',
    HERALD_SECRET: 'herald-test-secret-0123456789-abcdef',
    PUBLIC_URL: 'https://news.example.org',
    MAIL_FROM: 'Herald News <news@example.org>',
    // Alerts go out whatever the hour the suite runs; quiet-hours tests set their own.
    ALERT_QUIET_HOURS: 'off',
    ...extra,
  };
}

/** Opens the app and starts workers (all, unless `withWorkers` is false). */
export async function startHerald(
  env: Record<string, string>,
  withWorkers = true,
): Promise<RunningHerald> {
  const app = await createApp(parseConfig(env));
  const queues = await app.queues();
  let workers = withWorkers ? await startWorkers(app) : [];
  const stopWorkers = async () => {
    for (const worker of [...workers].reverse()) await worker.stop();
    workers = [];
  };
  return {
    app,
    queues,
    get workers() {
      return workers;
    },
    prefix: env.QUEUE_PREFIX!,
    env,
    stopWorkers,
    async close() {
      await stopWorkers();
      await app.close();
    },
  };
}

/** Polls the campaign until `done` says yes (or fails after `timeoutMs`). */
export async function waitForCampaign(
  app: App,
  id: number,
  done: (report: CampaignStatusReport) => boolean,
  timeoutMs = 180_000,
): Promise<CampaignStatusReport> {
  const deadline = Date.now() + timeoutMs;
  let report = await campaignStatus(app.store.db, id);
  while (!done(report)) {
    if (Date.now() > deadline)
      throw new Error(`campaign ${id} timed out: ${JSON.stringify(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    report = await campaignStatus(app.store.db, id);
  }
  return report;
}

export interface TestServer {
  app: App;
  server: FastifyInstance;
  close(): Promise<void>;
}

/**
 * An app on a fresh store of the dialect with its HTTP server (not listening: use inject),
 * no workers. `prepare` seeds the store before the server is built.
 */
export async function openTestServer(
  dialect: TestDialect,
  env: Record<string, string>,
  prepare: (app: App) => Promise<void> = async () => {},
): Promise<TestServer> {
  const target = await createTestTarget(dialect);
  const app = await createApp(
    parseConfig({ DATABASE_URL: target.databaseUrl, LOG_LEVEL: 'silent', ...env }),
  );
  await prepare(app);
  const server = await buildServer(app);
  return {
    app,
    server,
    async close() {
      await server.close();
      await app.close();
      await target.dispose();
    },
  };
}
