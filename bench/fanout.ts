// The fan-out bench for one SQL dialect: (a) the raw limit of a bare pooled nodemailer
// transport pushing pre-built messages (`sendMail({raw, envelope})`, DESIGN.md's measured fact;
// the raw probe, one process: this one), and beside it (a′) Herald's own SMTP transport on the
// same messages (it skips work nodemailer does on a raw message), (b) a naive per-recipient MJML
// compile + nodemailer build, (c) Herald end-to-end from `campaign send` to the last message
// accepted by the sink, run as a user runs it: one `herald start` (the compiled bin) with
// DELIVERY_PROCESSES at its default (one delivery process per core) unless --processes says
// otherwise. All three send into the same sink process.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import mjml2html from 'mjml';
import nodemailer from 'nodemailer';
import { type App, createApp } from '../src/app.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import {
  createCampaign,
  getCampaign,
  loadArticles,
  moveCampaign,
} from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { sendCampaign } from '../src/delivery/control.ts';
import { fanOutCampaign } from '../src/delivery/fanout.ts';
import {
  type BuiltMessage,
  composeWithNodemailer,
  type Recipient,
} from '../src/delivery/message.ts';
import { ALL_QUEUES, openQueues, type Queues } from '../src/delivery/queues.ts';
import { campaignRenderer, newsletterInput } from '../src/delivery/renderer.ts';
import { countLedger } from '../src/ledger/ledger.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import type { MailTransport } from '../src/mail/transport.ts';
import { createRedis } from '../src/redis/index.ts';
import { htmlToText, renderMjml } from '../src/templates/index.ts';
import { topicNames } from '../src/topics/catalogue.ts';
import { type CurveResult, formatMemoryCurve, startMemoryCurve } from './memory-curve.ts';
import { cpuMs, deletePrefix, ownCpuMs, peakRss, watchRedis } from './monitor.ts';
import type { SinkProcess } from './sink-client.ts';
import { waitUntil } from './sink-client.ts';
import {
  type BenchDialect,
  createBenchTarget,
  seedFixtureArticle,
  seedFollowers,
  uniqueName,
} from './store.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TOPIC = 'russia-china-relations';
/** Messages sent untimed before (a) to open the pool's connections and warm the JIT. */
const WARM_UP = 300;
/** Naive messages sent untimed before (b). */
const NAIVE_WARM_UP = 30;
/**
 * At most this many messages are pre-built for (a): they are all held in memory at once
 * (~37 kB each), so a 1,000,000-recipient run times the raw transport on a sample.
 */
const RAW_SAMPLE_MAX = 20_000;

export interface FanoutOptions {
  dialect: BenchDialect;
  recipients: number;
  /** Recipients timed on the naive path (b). */
  naiveSample: number;
  sink: SinkProcess;
  /** DELIVERY_PROCESSES for the `herald start` of (c); unset: the product's default. */
  processes?: number;
  /** Write a CPU profile of the worker process into this directory. */
  profileDir?: string;
}

export interface FanoutResult {
  dialect: BenchDialect;
  recipients: number;
  seedMs: number;
  messageBytes: number;
  /** Messages built per second by the real builder, one core (bench process). */
  buildRate: number;
  /** CPU µs per message: building (bench process), (a) sending and sinking, (b) whole naive
   * path, (c) worker process and sink. CPU time holds up better than wall time on a busy box. */
  buildCpuUs: number;
  aSenderCpuUs: number;
  aSinkCpuUs: number;
  /** (a′) the same messages through Herald's SMTP transport (src/mail/transports/smtp.ts). */
  tSenderCpuUs: number;
  tSinkCpuUs: number;
  tMs: number;
  tRate: number;
  bCpuUs: number;
  /** (c) `herald start` and all its children (the delivery processes), from /proc. */
  cHeraldCpuUs: number;
  cSinkCpuUs: number;
  /** 1-minute load average when (c) finished: above 2 the 2-core box was shared. */
  loadAverage: number;
  lanes: number;
  aMs: number;
  aRate: number;
  bSample: number;
  bMs: number;
  bRate: number;
  /** send → last message accepted by the sink */
  cMs: number;
  cRate: number;
  /** send → campaign status `sent` */
  cSentMs: number;
  /** send → campaigns.prepared_at (ledger written, every batch enqueued) */
  prepMs: number;
  batches: number;
  redisUsedDelta: number;
  redisPrefixBytes: number;
  redisPrefixKeys: number;
  /** the largest peak RSS among `herald start` and its children */
  workerRss: number;
  /** processes of the `herald start` tree in (c): itself and its delivery children */
  heraldProcesses: number;
  /** DELIVERY_PROCESSES as (c) ran it ('default' when left unset) */
  deliveryProcesses: string;
  /** fanOutCampaign run directly on a second campaign, nothing else running (ledger + enqueue). */
  prepAloneMs: number;
  ledgerSent: number;
  sinkAccepted: number;
  sinkDuplicates: number;
  /** Recipients timed on the raw path (a): all of them up to RAW_SAMPLE_MAX. */
  aSample: number;
  /** RSS of every Herald process and Herald's Redis bytes during (c), every few seconds. */
  memory: CurveResult;
}

/** Environment shared by the bench process and the worker child (pool/batch knobs may be overridden). */
function benchEnv(databaseUrl: string, smtpUrl: string, prefix: string): Record<string, string> {
  const passthrough = [
    'SMTP_POOL_SIZE',
    'SEND_CONCURRENCY',
    'BATCH_SIZE',
    'REDIS_URL',
    'DELIVERY_PROCESSES',
  ] as const;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    SMTP_URL: smtpUrl,
    QUEUE_PREFIX: prefix,
    HERALD_DATA_DIR: resolve(ROOT, 'var/bench'),
    LOG_LEVEL: 'warn',
    // The api of `herald start` on a free port.
    PORT: '0',
    HERALD_SECRET: 'bench-secret-bench-secret-bench-0123',
    PUBLIC_URL: 'https://news.example.org',
    MAIL_FROM: 'Herald News <news@example.org>',
  };
  for (const name of passthrough) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

/** Sends `items` with `lanes` sends in flight, as deliverBatch does; resolves with the ms taken. */
async function pushThrough<T>(
  items: readonly T[],
  lanes: number,
  send: (item: T) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (;;) {
      const item = items[next];
      if (item === undefined) return;
      next += 1;
      await send(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  return performance.now() - started;
}

/**
 * Spawns `node bin/herald.js start` (the compiled CLI, as a user runs it) and resolves once it
 * listens: its delivery processes have said they are ready by then.
 */
async function startHeraldProcess(
  env: Record<string, string>,
  profileDir: string | undefined,
): Promise<ChildProcess> {
  // The delivery children inherit these options, so each writes a profile of its own.
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, resolve(ROOT, 'bin/herald.js'), 'start'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  await new Promise<void>((ready, fail) => {
    const lines = createInterface({ input: child.stderr! });
    let started = false;
    lines.on('line', (line) => {
      if (!started && line.includes('listening on')) {
        started = true;
        ready();
      } else process.stderr.write(`[herald] ${line}\n`);
    });
    child.once('exit', (code) => {
      if (!started) fail(new Error(`herald start exited early (code ${code})`));
    });
  });
  return child;
}

/** A process and its descendants, from /proc (each task's `children` file). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((part) => part.trim() !== '')
        .map(Number),
    );
  } catch {
    // Gone: no descendants either.
  }
  return [pid, ...children.flatMap(processTree)];
}

/** CPU time (user + system, ms) of a process and every descendant running now. */
function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((sum, member) => sum + cpuMs(member), 0);
}

/** Sends SIGTERM and waits for the process to exit (it hands back what is in flight). */
async function stopWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const started = Date.now();
  const exited = new Promise<[number | null, string | null]>((done) =>
    child.once('exit', (code, signal) => done([code, signal])),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  if (code !== 0)
    process.stderr.write(
      `bench: herald start ended with ${signal ?? `code ${code}`} after ${Date.now() - started} ms\n`,
    );
}

/** Times fanOutCampaign for a new campaign to the same audience; its jobs are deleted after. */
async function timeFanOutAlone(
  app: App,
  n: number,
  articleId: number,
  prefix: string,
): Promise<number> {
  const db = app.store.db;
  const { campaign } = await createCampaign(
    db,
    createCampaignSchema.parse({ articleIds: [articleId], topics: [TOPIC] }),
    new Date().toISOString(),
  );
  const now = new Date().toISOString();
  await moveCampaign(db, campaign.id, ['draft'], 'sending', now, { startedAt: now });
  const connection = createRedis(app.config, 'client');
  const queues = Object.fromEntries(
    ALL_QUEUES.map((name) => [name, new Queue(name, { connection, prefix })]),
  ) as Queues;
  try {
    const started = performance.now();
    const result = await fanOutCampaign(
      { db, config: app.config, logger: app.logger, queues, now: () => new Date() },
      campaign.id,
    );
    const elapsed = performance.now() - started;
    const ledger = await countLedger(db, campaign.id);
    if (result.outcome !== 'prepared' || ledger.total !== n)
      throw new Error(`fan-out alone: ${result.outcome}, ${ledger.total} ledger rows of ${n}`);
    return elapsed;
  } finally {
    await Promise.all(Object.values(queues).map((queue) => queue.close()));
    await deletePrefix(connection, prefix);
    connection.disconnect();
  }
}

/** Runs (a), (b) and (c) for one dialect against a fresh store and queue prefix. */
export async function runFanoutBench(options: FanoutOptions): Promise<FanoutResult> {
  const { dialect, recipients: n, sink } = options;
  const log = (message: string) => process.stderr.write(`[${dialect}] ${message}\n`);
  const target = await createBenchTarget(dialect);
  const prefix = uniqueName('hbench');
  const env = benchEnv(target.databaseUrl, sink.url, prefix);
  if (options.processes !== undefined) env.DELIVERY_PROCESSES = String(options.processes);
  const config = parseConfig(env);
  const lanes = Math.max(1, config.SMTP_POOL_SIZE * 2);
  let app: App | undefined;
  let herald: ChildProcess | undefined;
  let transport: MailTransport | undefined;
  try {
    app = await createApp(config);
    const db = app.store.db;

    log(`seeding the fixture article and ${n} followers`);
    let started = performance.now();
    const article = await seedFixtureArticle(db);
    if (!article.topics.includes(TOPIC)) throw new Error(`the fixture is not tagged ${TOPIC}`);
    await seedFollowers(db, n, TOPIC);
    const { campaign, audienceSize } = await createCampaign(
      db,
      createCampaignSchema.parse({ articleIds: [article.id], topics: [TOPIC] }),
      new Date().toISOString(),
    );
    if (audienceSize !== n) throw new Error(`audience is ${audienceSize}, expected ${n}`);
    const seedMs = performance.now() - started;

    // (a) the raw limit: N messages built first with the real builder, then only sending timed.
    log('(a) building messages with the real builder');
    const renderer = await campaignRenderer(db, config, campaign);
    const names = await topicNames(db, campaign.audienceTopics);
    const subscribers = await db
      .selectFrom('subscribers')
      .select(['id', 'email', 'name'])
      .orderBy('id')
      .limit(Math.min(n, RAW_SAMPLE_MAX))
      .execute();
    const recipientsList: Recipient[] = subscribers.map((s) => ({
      subscriberId: s.id,
      email: s.email,
      name: s.name,
      followedTopicNames: [names[TOPIC] ?? TOPIC],
    }));
    started = performance.now();
    const buildCpu0 = ownCpuMs();
    const messages: BuiltMessage[] = recipientsList.map((r) => renderer.build(r));
    const buildMs = performance.now() - started;
    const buildCpuMs = ownCpuMs() - buildCpu0;
    const messageBytes = Math.round(
      messages.reduce((sum, m) => sum + m.raw.length, 0) / Math.max(1, messages.length),
    );
    // (a) bare nodemailer: a pooled transport with the same pool size, raw + envelope.
    const bare = nodemailer.createTransport({
      url: sink.url,
      pool: true,
      maxConnections: config.SMTP_POOL_SIZE,
      maxMessages: Number.POSITIVE_INFINITY,
    });
    const bareSend = (m: BuiltMessage) => bare.sendMail({ envelope: m.envelope, raw: m.raw });
    // Warm the pool's connections and both processes' JIT before anything is timed.
    await pushThrough(messages.slice(0, Math.min(WARM_UP, n)), lanes, bareSend);
    await sink.reset();
    const aSample = messages.length;
    log(`(a) bare nodemailer: sending ${aSample} pre-built messages (${lanes} in flight)`);
    const aCpu0 = { own: ownCpuMs(), sink: cpuMs(sink.pid) };
    const aMs = await pushThrough(messages, lanes, bareSend);
    const aCpu = { own: ownCpuMs() - aCpu0.own, sink: cpuMs(sink.pid) - aCpu0.sink };
    const afterA = await sink.counts();
    if (afterA.accepted !== aSample)
      throw new Error(`(a) sink accepted ${afterA.accepted} of ${aSample}`);
    bare.close();

    // (a′) the same messages through Herald's SMTP transport.
    transport = createMailTransport(config);
    await transport.verify();
    const sender = transport;
    await pushThrough(messages.slice(0, Math.min(WARM_UP, n)), lanes, (m) => sender.send(m));
    await sink.reset();
    log(`(a′) Herald's SMTP transport: the same ${aSample} messages`);
    const tCpu0 = { own: ownCpuMs(), sink: cpuMs(sink.pid) };
    const tMs = await pushThrough(messages, lanes, (m) => sender.send(m));
    const tCpu = { own: ownCpuMs() - tCpu0.own, sink: cpuMs(sink.pid) - tCpu0.sink };
    const afterT = await sink.counts();
    if (afterT.accepted !== aSample)
      throw new Error(`(a′) sink accepted ${afterT.accepted} of ${aSample}`);
    messages.length = 0;

    // (b) naive: per recipient, MJML compiled (no cache) and the message built by nodemailer.
    const sample = recipientsList.slice(0, Math.min(options.naiveSample, n));
    const articles = await loadArticles(db, campaign.articleIds);
    const input = newsletterInput(campaign, articles, names);
    await sink.reset();
    log(`(b) naive path on ${sample.length} recipients`);
    const naive = async (recipient: Recipient) => {
      const { html } = await mjml2html(renderMjml(input, config), {
        validationLevel: 'strict',
        keepComments: false,
      });
      // One fixed hash: the personaliser's Handlebars compile is cached, so the naive path pays
      // one template pass per recipient (as rendering MJML with the recipient's data would).
      const compiled = {
        hash: 'bench-naive',
        subject: input.subject,
        html,
        text: htmlToText(html),
      };
      const compose = composeWithNodemailer(
        compiled,
        { campaignId: campaign.id, kind: 'campaign' },
        config,
      );
      await sender.send(await compose(recipient));
    };
    // Warm MJML and nodemailer up (their first calls compile and load a lot) untimed.
    await pushThrough(recipientsList.slice(0, Math.min(NAIVE_WARM_UP, n)), lanes, naive);
    await sink.reset();
    const bCpu0 = ownCpuMs();
    const bMs = await pushThrough(sample, lanes, naive);
    const bCpuMs = ownCpuMs() - bCpu0;
    const afterB = await sink.counts();
    if (afterB.accepted !== sample.length)
      throw new Error(`(b) sink accepted ${afterB.accepted} of ${sample.length}`);
    transport.close();
    transport = undefined;

    // (c) Herald end to end, as a user runs it: one `herald start`, delivery in its children.
    const processesLabel = env.DELIVERY_PROCESSES ?? 'default';
    log(`(c) starting herald start (DELIVERY_PROCESSES ${processesLabel})`);
    herald = await startHeraldProcess(env, options.profileDir);
    const heraldPid = herald.pid!;
    const tree = processTree(heraldPid);
    const queues = openQueues(app);
    const redis = app.redis();
    await sink.reset();
    const watcher = await watchRedis(redis, prefix);
    const curve = startMemoryCurve({
      roots: () => [{ label: 'herald start', pid: heraldPid }],
      redis,
      prefix,
      everyMs: n >= 200_000 ? 10_000 : 2_000,
    });
    log(`(c) campaign send → ${n} messages (${tree.length - 1} delivery processes)`);
    const cCpu0 = { herald: treeCpuMs(heraldPid), sink: cpuMs(sink.pid) };
    const sendStart = Date.now();
    await sendCampaign({ db, config, queues, now: () => new Date() }, campaign.id);
    const timeoutMs = Math.max(180_000, n * 20);
    let last = await sink.counts();
    await waitUntil(
      async () => {
        last = await sink.counts();
        return last.accepted >= n;
      },
      `${n} messages at the sink (have ${last.accepted})`,
      timeoutMs,
      25,
    );
    const cMs = last.lastAt - sendStart;
    const cCpu = {
      herald: treeCpuMs(heraldPid) - cCpu0.herald,
      sink: cpuMs(sink.pid) - cCpu0.sink,
    };
    await waitUntil(
      async () => (await getCampaign(db, campaign.id))?.status === 'sent',
      'campaign status sent',
      60_000,
      25,
    );
    const cSentMs = Date.now() - sendStart;
    const redisPeak = await watcher.stop();
    const memory = await curve.stop();
    process.stdout.write(
      `\nMemory during (c) on ${dialect}: RSS of each Herald process (and its children), Herald's Redis keys (MEMORY USAGE over SCAN ${prefix}:*)\n${formatMemoryCurve(memory)}`,
    );
    // The curve's peaks include processes that have ended (an MJML compiler lives seconds).
    const workerRss = Math.max(...processTree(heraldPid).map(peakRss), ...memory.peakRss.values());
    const heraldProcesses = processTree(heraldPid).length;
    const finished = await getCampaign(db, campaign.id);
    const prepMs = finished?.preparedAt ? Date.parse(finished.preparedAt) - sendStart : Number.NaN;
    const ledger = await countLedger(db, campaign.id);
    const batches = await db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.max('batch_no').as('b'))
      .where('campaign_id', '=', campaign.id)
      .executeTakeFirst();
    // Let any stray duplicate arrive before the final count.
    await new Promise((done) => setTimeout(done, 200));
    const afterC = await sink.counts();
    await stopWorkerProcess(herald);
    herald = undefined;
    await deletePrefix(redis, prefix);

    // Ledger preparation alone: the same fan-out on a second campaign, with no worker running
    // (so nothing sends and nothing competes), into a queue prefix of its own.
    log('ledger preparation alone (fanOutCampaign on a second campaign)');
    const prepAloneMs = await timeFanOutAlone(app, n, article.id, `${prefix}_prep`);

    return {
      dialect,
      recipients: n,
      seedMs,
      messageBytes,
      buildRate: (aSample * 1000) / buildMs,
      buildCpuUs: (buildCpuMs * 1000) / aSample,
      aSenderCpuUs: (aCpu.own * 1000) / aSample,
      aSinkCpuUs: (aCpu.sink * 1000) / aSample,
      tSenderCpuUs: (tCpu.own * 1000) / aSample,
      tSinkCpuUs: (tCpu.sink * 1000) / aSample,
      tMs,
      tRate: (aSample * 1000) / tMs,
      bCpuUs: (bCpuMs * 1000) / sample.length,
      cHeraldCpuUs: (cCpu.herald * 1000) / n,
      cSinkCpuUs: (cCpu.sink * 1000) / n,
      loadAverage: loadavg()[0] ?? 0,
      lanes,
      aMs,
      aRate: (aSample * 1000) / aMs,
      aSample,
      memory,
      bSample: sample.length,
      bMs,
      bRate: (sample.length * 1000) / bMs,
      cMs,
      cRate: (n * 1000) / cMs,
      cSentMs,
      prepMs,
      batches: Number(batches?.b ?? 0),
      redisUsedDelta: redisPeak.usedDelta,
      redisPrefixBytes: redisPeak.prefixBytes,
      redisPrefixKeys: redisPeak.prefixKeys,
      workerRss,
      heraldProcesses,
      deliveryProcesses: processesLabel,
      prepAloneMs,
      ledgerSent: ledger.sent,
      sinkAccepted: afterC.accepted,
      sinkDuplicates: afterC.duplicates,
    };
  } finally {
    transport?.close();
    if (herald) await stopWorkerProcess(herald);
    if (app) {
      await deletePrefix(app.redis(), prefix).catch(() => {});
      await app.close();
    }
    await target.dispose();
  }
}

/** Makes sure a profile directory exists and returns its absolute path. */
export function profileDirectory(dir: string): string {
  const path = resolve(dir);
  mkdirSync(path, { recursive: true });
  return path;
}
