// What a worker process holds: `herald worker` (the build) loads each queue's worker, and
// what that worker needs, only when it runs. A delivery process compiles MJML in a child
// process (src/templates/mjml-process.ts) and serves no HTTP, so MJML, Fastify, the bounce listener's
// SMTP server and the feed parsers stay out of its memory (an idle worker: 201 → 146 MB RSS).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uniqueName } from './helpers/stores.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'herald-footprint-'));

/** Starts the built `herald worker …` with the package trace, stops it once running; returns the packages it loaded. */
async function packagesOfWorker(queues: string[]): Promise<Set<string>> {
  const trace = join(dataDir, `packages-${queues.join('-') || 'all'}.txt`);
  rmSync(trace, { force: true });
  const child = spawn(
    process.execPath,
    ['--import', './test/helpers/package-trace.mjs', 'bin/herald.js', 'worker', ...queues],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        HERALD_DATA_DIR: dataDir,
        DATABASE_URL: '',
        QUEUE_PREFIX: uniqueName('hfoot'),
        HERALD_SECRET: 'footprint-test-secret-0123456789abcdef',
        LOG_LEVEL: 'silent',
        HERALD_TEST_PACKAGE_TRACE: trace,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  await new Promise<void>((ready, fail) => {
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
      if (stderr.includes('workers running')) ready();
    });
    child.once('exit', (code) => fail(new Error(`worker exited early (${code}): ${stderr}`)));
  });
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
  return new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean));
}

/** Packages a worker process must not hold until (or unless) it uses them. */
const NOT_AT_START = [
  'mjml',
  'juice',
  'cheerio',
  'fastify',
  'smtp-server',
  'feedsmith',
  'linkedom',
  'yaml',
];

describe('a worker process', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('running deliveries alone loads BullMQ and the store, not MJML, HTTP or feed parsers', async () => {
    const loaded = await packagesOfWorker(['deliveries']);
    expect(loaded.has('bullmq') && loaded.has('kysely') && loaded.has('nodemailer')).toBe(true);
    expect(NOT_AT_START.filter((name) => loaded.has(name))).toEqual([]);
  });

  it('running every queue loads no more of them before a feed is polled or a campaign compiled', async () => {
    const loaded = await packagesOfWorker([]);
    expect(loaded.has('bullmq') && loaded.has('kysely')).toBe(true);
    expect(NOT_AT_START.filter((name) => loaded.has(name))).toEqual([]);
  });
});
