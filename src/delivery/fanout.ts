// A campaign's fan-out: compile once, write the audience into the ledger page by page, and
// enqueue one batch job per page. Safe to run again after a crash: it resumes from the ledger.
import { setImmediate } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { AudienceMember } from '../campaigns/audience.ts';
import type { Campaign } from '../campaigns/model.ts';
import { getCampaign, moveCampaign } from '../campaigns/repository.ts';
import { nextLocalOccurrence, parseLocalTime } from '../campaigns/schedule.ts';
import type { Config } from '../config/index.ts';
import {
  type FutureBatch,
  fanOutResumePoint,
  futureBatches,
  pendingBatchesBetween,
  pendingBatchNos,
  rowsWrittenAfter,
} from '../ledger/batches.ts';
import { insertSelectedRows } from '../ledger/inserts.ts';
import type { Logger } from '../log/index.ts';
import { emailHashSql } from '../store/email-hash-sql.ts';
import { isPostgres } from '../store/paging.ts';
import type { Database } from '../store/schema.ts';
import { warmMjmlCompiler } from '../templates/mjml-process.ts';
import { enqueueBatches } from './jobs.ts';
import { finishIfDone } from './progress.ts';
import type { Queues } from './queues.ts';
import { campaignRenderer } from './renderer.ts';

export interface FanOutDeps {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  queues: Queues;
  now: () => Date;
}

export interface FanOutResult {
  outcome: 'prepared' | 'skipped' | 'template-failed';
  batches: number;
}

/** Runs a campaign's fan-out job; a scheduled campaign whose time has come starts sending. */
export async function fanOutCampaign(deps: FanOutDeps, campaignId: number): Promise<FanOutResult> {
  const { db, config } = deps;
  const nowIso = () => deps.now().toISOString();
  const scheduled = await getCampaign(db, campaignId);
  if (
    scheduled?.status === 'scheduled' &&
    scheduled.scheduledAt &&
    Date.parse(scheduled.scheduledAt) > deps.now().getTime()
  ) {
    // Early (another process's clock, or a re-created job): never start before the instant;
    // the reconciler re-creates the delayed job from scheduled_at.
    deps.logger.warn({ campaign_id: campaignId }, 'delivery.campaign.early');
    return { outcome: 'skipped', batches: 0 };
  }
  await moveCampaign(db, campaignId, ['scheduled'], 'sending', nowIso(), { startedAt: nowIso() });
  const campaign = await getCampaign(db, campaignId);
  if (campaign?.status !== 'sending') return { outcome: 'skipped', batches: 0 };

  // Compile while the pages are written (MJML in its own process, the INSERTs in the
  // database); no batch job is added before the compile has succeeded (see compileOrPause):
  // the batches of pages written meanwhile wait in `unqueued` and are added once it has.
  const compiled = compileOrPause(deps, campaign);
  let compileOutcome: boolean | undefined;
  // (A rejection is not lost: the `await compiled` after the pages throws it.)
  compiled.then(
    (ok) => {
      compileOutcome = ok;
    },
    () => {},
  );

  let batches = 0;
  if (!campaign.preparedAt) {
    // Resume after the last page a previous run wrote (each page is one statement).
    const resume = await fanOutResumePoint(db, campaignId);
    let afterId = resume.lastSubscriberId;
    let batchNo = resume.lastBatchNo;
    const unqueued: UnqueuedBatch[] = [];
    for (;;) {
      if (compileOutcome === false) return { outcome: 'template-failed', batches: 0 };
      const written = campaign.localTime
        ? await writeLocalTimePage(deps, campaign, afterId, batchNo)
        : await writeNextPage(deps, campaign, afterId, batchNo);
      if (written === null) break;
      const { plan } = written;
      batchNo += plan.batches.length;
      const pending = await pendingBatchesBetween(
        db,
        campaignId,
        plan.batches[0]!.batchNo,
        batchNo,
      );
      // A batch whose members are all suppressed gets no job.
      for (const batch of plan.batches) if (pending.has(batch.batchNo)) unqueued.push(batch);
      afterId = written.lastId;
      if (compileOutcome === true) batches += await enqueueUnqueued(deps, campaignId, unqueued);
      // SQLite's statements run synchronously, so without a turn of the event loop a page
      // loop starves the process's I/O: the compiler's reply, job lock renewals, HTTP.
      await setImmediate();
    }
    if (!(await compiled)) return { outcome: 'template-failed', batches: 0 };
    batches += await enqueueUnqueued(deps, campaignId, unqueued);
    await db
      .updateTable('campaigns')
      .set({ prepared_at: nowIso(), updated_at: nowIso() })
      .where('id', '=', campaignId)
      .execute();
  }
  if (!(await compiled)) return { outcome: 'template-failed', batches: 0 };
  // Every batch that still has unsent rows gets its job (covers a crash between a page's
  // insert and its enqueue; existing jobs are kept as they are).
  const unsentBatches = await pendingBatchNos(db, campaignId, nowIso());
  await enqueueBatches(deps.queues.deliveries, config, campaignId, unsentBatches);
  await enqueueFutureBatches(
    deps.queues.deliveries,
    config,
    campaignId,
    await futureBatches(db, campaignId, nowIso()),
    deps.now(),
  );
  await finishIfDone(db, campaignId, nowIso());
  deps.logger.info(
    { campaign_id: campaignId, batches: Math.max(batches, unsentBatches.length) },
    'delivery.campaign.prepared',
  );
  return { outcome: 'prepared', batches: Math.max(batches, unsentBatches.length) };
}

/** A page written into the ledger: its batches and its last subscriber id. */
interface WrittenPage {
  plan: PagePlan;
  lastId: number;
}

/**
 * Writes the next page of the audience after `afterId` (BATCHES_PER_PAGE batches of
 * BATCH_SIZE, all due at once) with one INSERT … SELECT … LIMIT, then reads where it ended
 * from the ledger; null when no member is left.
 */
async function writeNextPage(
  deps: FanOutDeps,
  campaign: Campaign,
  afterId: number,
  lastBatchNo: number,
): Promise<WrittenPage | null> {
  const { db, config } = deps;
  if (campaign.audienceTopics.length === 0) return null;
  const pageSize = config.BATCH_SIZE * BATCHES_PER_PAGE;
  // Planned for a full page; the batches the page did not fill are dropped once it is written.
  const fullPage = planPage(
    campaign,
    { zones: [], members: pageSize },
    lastBatchNo,
    config.BATCH_SIZE,
    deps.now(),
  );
  const page = { topics: campaign.audienceTopics, afterId, limit: pageSize };
  await writeAudiencePage(db, campaign.id, page, fullPage, deps.now().toISOString());
  const written = await rowsWrittenAfter(db, campaign.id, afterId);
  if (written === null) return null;
  const filled = Math.ceil(written.rows / config.BATCH_SIZE);
  const plan = { ...fullPage, batches: fullPage.batches.slice(0, filled) };
  return { plan, lastId: written.lastSubscriberId };
}

/**
 * Writes the next page of a local-time campaign's audience: BATCH_SIZE members, one batch per
 * due instant of their zones. Its bounds and zones are read first (the batch numbers depend
 * on them); null when no member is left.
 */
async function writeLocalTimePage(
  deps: FanOutDeps,
  campaign: Campaign,
  afterId: number,
  lastBatchNo: number,
): Promise<WrittenPage | null> {
  const { db, config } = deps;
  const topics = campaign.audienceTopics;
  const end = await audiencePageEnd(db, topics, afterId, config.BATCH_SIZE);
  if (end === null) return null;
  const page = { topics, afterId, lastId: end.lastId };
  const zones = await audienceZones(db, page);
  const plan = planPage(
    campaign,
    { zones, members: end.members },
    lastBatchNo,
    config.BATCH_SIZE,
    deps.now(),
  );
  await writeAudiencePage(db, campaign.id, page, plan, deps.now().toISOString());
  return { plan, lastId: end.lastId };
}

interface UnqueuedBatch {
  batchNo: number;
  dueAt: string | null;
}

/**
 * Adds the jobs of written batches (one addBulk per due instant) and empties the list;
 * returns how many were added.
 */
async function enqueueUnqueued(
  deps: FanOutDeps,
  campaignId: number,
  unqueued: UnqueuedBatch[],
): Promise<number> {
  const byDue = new Map<string | null, number[]>();
  for (const batch of unqueued.splice(0))
    byDue.set(batch.dueAt, [...(byDue.get(batch.dueAt) ?? []), batch.batchNo]);
  let added = 0;
  for (const [dueAt, batchNos] of byDue) {
    const delay = dueAt ? Date.parse(dueAt) - deps.now().getTime() : 0;
    await enqueueBatches(deps.queues.deliveries, deps.config, campaignId, batchNos, delay);
    added += batchNos.length;
  }
  return added;
}

/**
 * Compiles the campaign's newsletter (cached for the process's batches); true when it did.
 * A broken template pauses the campaign with the reason instead of failing every batch: rows
 * of a page written meanwhile stay without jobs, and a resume continues from the ledger.
 */
async function compileOrPause(deps: FanOutDeps, campaign: Campaign): Promise<boolean> {
  // The compiler process starts before the renderer's reads, beside the pages' INSERTs.
  warmMjmlCompiler();
  try {
    await campaignRenderer(deps.db, deps.config, campaign);
    return true;
  } catch (error) {
    const reason =
      `template failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
    const now = deps.now().toISOString();
    await moveCampaign(deps.db, campaign.id, ['sending'], 'paused', now, { reason });
    deps.logger.error({ campaign_id: campaign.id, reason }, 'delivery.campaign.compile_failed');
    return false;
  }
}

/** A page of the audience: its members are the subscribers with ids in (afterId, lastId]. */
interface AudiencePageRange {
  topics: readonly string[];
  afterId: number;
  lastId: number;
}

/** The next page of the audience: its first `limit` members after `afterId`. */
interface AudiencePageAfter {
  topics: readonly string[];
  afterId: number;
  limit: number;
}

type SubscriberScope = Database & { s: Database['subscribers'] };

/**
 * `subscribers as s` follows one of the topics (the audience filter of campaigns/audience.ts),
 * with the page's id bounds repeated on the follows so that PostgreSQL reads only the page's
 * part of them whichever join it picks.
 */
function followsAnyWithin(
  eb: ExpressionBuilder<SubscriberScope, 's'>,
  topics: readonly string[],
  afterId: number,
  lastId?: number,
) {
  return eb.exists(
    eb
      .selectFrom('subscriptions as f')
      .select('f.subscriber_id')
      .whereRef('f.subscriber_id', '=', 's.id')
      .where('f.subscriber_id', '>', afterId)
      .$if(lastId !== undefined, (qb) => qb.where('f.subscriber_id', '<=', lastId!))
      .where('f.topic_id', 'in', [...topics]),
  );
}

/**
 * The audience's active members after `afterId` (up to `lastId` when given), as a subscriber
 * query (alias `s`). On SQLite the status test is written `+s.status`, which keeps its planner
 * off the status index: through it, each page read every active subscriber and sorted them
 * by id (a fan-out quadratic in the audience); without it, a page walks the id range.
 */
function audienceAfter(
  db: Kysely<Database>,
  topics: readonly string[],
  afterId: number,
  lastId?: number,
) {
  const active = isPostgres(db)
    ? sql<boolean>`s.status = 'active'`
    : sql<boolean>`+s.status = 'active'`;
  return db
    .selectFrom('subscribers as s')
    .where(active)
    .where('s.id', '>', afterId)
    .$if(lastId !== undefined, (qb) => qb.where('s.id', '<=', lastId!))
    .where((eb) => followsAnyWithin(eb, topics, afterId, lastId));
}

/** Audience batches written by one INSERT … SELECT (local-time campaigns: one). */
const BATCHES_PER_PAGE = 10;

/**
 * The next page of at most `limit` audience members after `afterId`: its last subscriber id
 * and how many members it holds; null when none is left.
 */
async function audiencePageEnd(
  db: Kysely<Database>,
  topics: readonly string[],
  afterId: number,
  limit: number,
): Promise<{ lastId: number; members: number } | null> {
  if (topics.length === 0) return null;
  const page = audienceAfter(db, topics, afterId)
    .select('s.id')
    .orderBy('s.id')
    .limit(limit)
    .as('page');
  const row = await db
    .selectFrom(page)
    .select((eb) => [eb.fn.max('page.id').as('last_id'), eb.fn.countAll().as('members')])
    .executeTakeFirst();
  return row?.last_id == null
    ? null
    : { lastId: Number(row.last_id), members: Number(row.members) };
}

/** The audience's members in a page range, as a subscriber query (alias `s`). */
function pageMembers(db: Kysely<Database>, page: AudiencePageRange) {
  return audienceAfter(db, page.topics, page.afterId, page.lastId);
}

/** A page's members (id, email, time zone) as a derived table aliased `s`. */
function pageMemberTable(db: Kysely<Database>, page: AudiencePageRange | AudiencePageAfter) {
  const columns = ['s.id', 's.email', 's.timezone'] as const;
  if ('lastId' in page) return pageMembers(db, page).select(columns).as('s');
  return audienceAfter(db, page.topics, page.afterId)
    .select(columns)
    .orderBy('s.id')
    .limit(page.limit)
    .as('s');
}

/** The time zones of a page's members (local-time campaigns plan one due instant per zone). */
async function audienceZones(db: Kysely<Database>, page: AudiencePageRange): Promise<string[]> {
  const rows = await pageMembers(db, page).select('s.timezone').distinct().execute();
  return rows.map((row) => row.timezone).sort();
}

export interface PagePlan {
  /** The page's batches in due order, numbered on from the campaign's last batch. */
  batches: Array<{ batchNo: number; dueAt: string | null }>;
  /**
   * Local-time campaigns: each zone's batch (a zone not listed goes to the first batch).
   * Otherwise null: the members fill batches of `batchSize` in id order.
   */
  zoneBatch: Map<string, number> | null;
  batchSize: number;
}

/**
 * Numbers a page's batches: for a local-time campaign one per due instant of its members'
 * zones (see groupByDue), otherwise enough batches of `batchSize` for its members, all due
 * at once (or at the scheduled instant when that is still ahead).
 */
export function planPage(
  campaign: Pick<Campaign, 'localTime' | 'scheduledAt' | 'startedAt'>,
  page: { zones: readonly string[]; members: number },
  lastBatchNo: number,
  batchSize: number,
  now: Date,
): PagePlan {
  const zones = campaign.localTime && page.zones.length > 0 ? page.zones : ['UTC'];
  const members = zones.map((timezone) => ({ subscriberId: 0, timezone, suppressed: false }));
  const dues = [...groupByDue(campaign, members, now).entries()].sort(([a], [b]) =>
    (a ?? '').localeCompare(b ?? ''),
  );
  if (!campaign.localTime) {
    const dueAt = dues[0]![0];
    const count = Math.max(1, Math.ceil(page.members / batchSize));
    return {
      batches: Array.from({ length: count }, (_, i) => ({ batchNo: lastBatchNo + 1 + i, dueAt })),
      zoneBatch: null,
      batchSize,
    };
  }
  const batches = dues.map(([dueAt], index) => ({ batchNo: lastBatchNo + 1 + index, dueAt }));
  const zoneBatch = new Map<string, number>();
  dues.forEach(([, group], index) => {
    for (const member of group) zoneBatch.set(member.timezone, lastBatchNo + 1 + index);
  });
  return { batches, zoneBatch, batchSize };
}

/**
 * Writes a page of the audience into the ledger with one INSERT … SELECT: suppressed
 * addresses get a `suppressed` row (the suppression hash is matched in SQL), the others a
 * `pending` one in their batch. Rows already there are kept as they are.
 */
async function writeAudiencePage(
  db: Kysely<Database>,
  campaignId: number,
  page: AudiencePageRange | AudiencePageAfter,
  plan: PagePlan,
  now: string,
): Promise<void> {
  const first = plan.batches[0]!;
  const dueOf = new Map(plan.batches.map((batch) => [batch.batchNo, batch.dueAt]));
  const { zoneBatch } = plan;
  const byZone = (value: (batchNo: number) => string | number | null) =>
    zoneBatch === null || zoneBatch.size === 1
      ? sql`${value(first.batchNo)}`
      : sql`case s.timezone ${sql.join(
          [...zoneBatch].map(([zone, batchNo]) => sql`when ${zone} then ${value(batchNo)}`),
          sql` `,
        )} else ${value(first.batchNo)} end`;
  // Batches of batchSize in id order, numbered on from the page's first.
  const batchNo =
    zoneBatch === null
      ? sql`cast(${first.batchNo} as integer) + (row_number() over (order by s.id) - 1) / cast(${plan.batchSize} as integer)`
      : sql`cast(${byZone((batchNo) => batchNo)} as integer)`;
  // The window numbers the page's members only (the LIMIT applies inside the derived table).
  const members = db.selectFrom(pageMemberTable(db, page)).select((eb) => [
    sql<number>`cast(${campaignId} as integer)`.as('campaign_id'),
    's.id as subscriber_id',
    eb
      .case()
      .when(
        eb.exists(
          eb
            .selectFrom('suppressions as x')
            .select('x.id')
            .where((inner) => inner('x.email_hash', '=', emailHashSql(db, inner.ref('s.email')))),
        ),
      )
      .then(sql.lit('suppressed'))
      .else(sql.lit('pending'))
      .end()
      .$castTo<'pending' | 'suppressed'>()
      .as('status'),
    sql<string | null>`cast(${byZone((no) => dueOf.get(no) ?? null)} as text)`.as('due_at'),
    sql<number>`${batchNo}`.as('batch_no'),
    sql<string>`cast(${now} as text)`.as('updated_at'),
  ]);
  // SQLite reads `ON CONFLICT` after `FROM (…)` as a join constraint unless a WHERE comes
  // between them (its upsert parsing ambiguity).
  await insertSelectedRows(db, members.where(sql<boolean>`true`));
}

/**
 * Groups a page of the audience by due instant (ISO text): local-time campaigns plan each
 * member in their own zone from the campaign's anchor (scheduled_at); a campaign whose
 * scheduled instant is still ahead (paused before it, then resumed) is due at that instant;
 * others form one group, due at once (null).
 */
export function groupByDue(
  campaign: Pick<Campaign, 'localTime' | 'scheduledAt' | 'startedAt'>,
  members: readonly AudienceMember[],
  now: Date,
): Map<string | null, AudienceMember[]> {
  const time = campaign.localTime ? parseLocalTime(campaign.localTime) : null;
  const anchor = campaign.scheduledAt ?? campaign.startedAt;
  const ahead =
    campaign.scheduledAt && Date.parse(campaign.scheduledAt) > now.getTime()
      ? new Date(campaign.scheduledAt).toISOString()
      : null;
  const groups = new Map<string | null, AudienceMember[]>();
  for (const member of members) {
    const due =
      time && anchor
        ? nextLocalOccurrence(time, member.timezone, new Date(anchor)).toISOString()
        : ahead;
    const group = groups.get(due) ?? [];
    group.push(member);
    groups.set(due, group);
  }
  return groups;
}

/** Adds each future batch's delayed job (jobs already there are kept: ids are deterministic). */
export async function enqueueFutureBatches(
  deliveries: Queue,
  config: Config,
  campaignId: number,
  batches: readonly FutureBatch[],
  now: Date,
): Promise<void> {
  const byDue = new Map<string, number[]>();
  for (const batch of batches)
    byDue.set(batch.dueAt, [...(byDue.get(batch.dueAt) ?? []), batch.batchNo]);
  for (const [dueAt, batchNos] of byDue) {
    await enqueueBatches(
      deliveries,
      config,
      campaignId,
      batchNos,
      Date.parse(dueAt) - now.getTime(),
    );
  }
}
