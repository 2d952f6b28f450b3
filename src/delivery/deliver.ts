// One batch of one campaign: claim its unsent ledger rows, personalise, send, record outcomes.
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { LimitFunction } from 'p-limit';
import type { Campaign } from '../campaigns/model.ts';
import { getCampaign, moveCampaign } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { openTrackingConsents } from '../engagement/store.ts';
import { nextDueInBatch } from '../ledger/batches.ts';
import { type ClaimedRow, claimBatch, releaseClaim } from '../ledger/claims.ts';
import { type Logger, maskEmails } from '../log/index.ts';
import { classifySendError, type ReplyCodes } from '../mail/smtp-reply.ts';
import type { MailTransport } from '../mail/transport.ts';
import type { Database } from '../store/schema.ts';
import { applyBounce } from '../subscribers/events.ts';
import { emailHash } from '../subscribers/identity.ts';
import { suppressedHashes } from '../subscribers/suppressions.ts';
import { alertHoldBack } from './alert-cap.ts';
import { type BatchOutcome, decideBatchOutcome } from './batch-outcome.ts';
import { type BatchWatch, storeWatchPort, watchBatch } from './batch-watch.ts';
import type { BatchJobData } from './jobs.ts';
import type { Recipient } from './message.ts';
import { messagesTotal } from './metrics.ts';
import type { OutcomeWriter } from './outcome-writer.ts';
import { autoPauseReason, finishIfDone, recordFailureWindow } from './progress.ts';
import type { SendLimiter } from './rate.ts';
import { type CampaignRenderer, campaignRenderer } from './renderer.ts';
import { type MessageOutcome, sendOne } from './send-one.ts';
import {
  attemptsAndFailures,
  type BatchCounts,
  createTally,
  ledgerOutcome,
  type Tally,
} from './tally.ts';

export interface DeliverDeps {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  redis: Redis;
  transport: MailTransport;
  limiter: SendLimiter | null;
  /**
   * The process's send slots (one limit shared by all its batches, sized to the transport's
   * concurrency): a message is built only when it can go to the transport at once.
   */
  sendSlots: LimitFunction;
  /** The process's ledger writer (outcomes of all batches, written together). */
  writer: OutcomeWriter;
  now: () => Date;
  /** True once the process is shutting down: finish the message in hand, take no more. */
  stopping: () => boolean;
}

export interface BatchAttempt {
  /** Marks the rows this attempt claims; a re-run of the same job takes its rows back. */
  claim: string;
  /** On the last attempt temporary failures become `failed` instead of waiting for a retry. */
  finalAttempt: boolean;
  /**
   * Aborted when the worker lost the job's lock (BullMQ could not renew it): the job may be
   * running elsewhere under the same claim, so the batch sends nothing more and releases
   * nothing (the other taker, or the stale-claim release, owns the rows now).
   */
  lock?: AbortSignal;
}

/** How the attempt ended (see BatchOutcome for what each asks of the worker) and its counts. */
export type BatchResult = {
  outcome: BatchOutcome;
  /** For `early`: when the batch's first row falls due (ISO). */
  notBefore?: string;
} & BatchCounts;

/**
 * Thrown for a batch that ends with temporary failures so BullMQ retries it later; carries the
 * last failure's reply codes for the `delivery.batch.failed` log.
 */
export class BatchRetryError extends Error {
  constructor(
    readonly temporary: number,
    readonly lastFailure: ReplyCodes | null,
  ) {
    super(`${temporary} temporary failures; retrying the batch later`);
    this.name = 'BatchRetryError';
  }
}

/**
 * The fields `delivery.batch.failed` logs for a failed attempt: the SMTP code and enhanced
 * status of the failure and a reason with addresses masked; never the server's free text.
 */
export function batchFailureFields(error: Error): {
  smtp_code: number | null;
  enhanced_status: string | null;
  reason: string;
} {
  const codes =
    error instanceof BatchRetryError
      ? (error.lastFailure ?? { smtpCode: null, enhancedStatus: null })
      : classifySendError(error);
  return {
    smtp_code: codes.smtpCode,
    enhanced_status: codes.enhancedStatus,
    reason: maskEmails(error.message),
  };
}

/** Sends one batch: a short sequence over the parts below; BatchResult says what the worker does. */
export async function deliverBatch(
  deps: DeliverDeps,
  data: BatchJobData,
  attempt: BatchAttempt,
): Promise<BatchResult> {
  const campaign = await getCampaign(deps.db, data.campaignId);
  if (campaign?.status !== 'sending') return { outcome: 'skipped', ...createTally().counts() };
  const rows = await claimBatch(deps.db, data, attempt.claim, nowIso(deps));
  if (rows.length === 0) {
    const notBefore = await nextDueInBatch(deps.db, data.campaignId, data.batchNo, nowIso(deps));
    if (notBefore) return { outcome: 'early', notBefore, ...createTally().counts() };
    await finishIfDone(deps.db, campaign.id, nowIso(deps));
    return { outcome: 'done', ...createTally().counts() };
  }
  const prepared = await prepareBatch(deps, campaign, attempt.claim, rows);
  if (!prepared) return { outcome: 'halted', ...createTally().counts() };

  const run: BatchRun = {
    deps,
    campaign,
    attempt,
    ...prepared,
    tally: createTally(),
    attempted: new Set(),
    writes: new Set(),
  };
  const sendable = rows.filter((row) => {
    if (row.active && !prepared.suppressed.has(emailHash(row.email))) return true;
    record(run, row.subscriberId, DROPPED);
    return false;
  });
  const watch = await runLanes(run, sendable);
  const counts = run.tally.counts();
  await checkFailureRate(deps, campaign, counts);

  const stopping = deps.stopping();
  const halted = watch.halted();
  const lockLost = attempt.lock?.aborted ?? false;
  const statusAfterHalt =
    !stopping && !lockLost && halted
      ? (await getCampaign(deps.db, campaign.id))?.status
      : undefined;
  const outcome = decideBatchOutcome({
    lockLost,
    stopping,
    halted,
    statusAfterHalt,
    temporary: counts.temporary,
  });
  if (outcome === 'done') await finishIfDone(deps.db, campaign.id, nowIso(deps));
  return { outcome, ...counts };
}

const nowIso = (deps: DeliverDeps) => deps.now().toISOString();

/** A recipient left out: suppressed, no longer active, or dropped before their turn. */
const DROPPED: MessageOutcome = { status: 'dropped', reply: null };

/** What personalising the batch's messages needs, read once per attempt. */
interface PreparedBatch {
  renderer: CampaignRenderer;
  /** Each recipient's followed topics among the campaign's, as display names. */
  followed: Map<number, string[]>;
  /** Email hashes of the claimed recipients on the suppression list. */
  suppressed: Set<string>;
  /** Recipients who consented to open tracking (src/engagement; empty while TRACK_OPENS is off). */
  openConsent: ReadonlySet<number>;
}

/**
 * Renders the campaign and reads the recipients' topics and suppressions; returns null when
 * the content cannot be rendered any more (an article deleted, a template broken): the
 * campaign is paused with the reason instead of failing every batch, and the rows released.
 * Any other error releases the rows and is thrown.
 */
async function prepareBatch(
  deps: DeliverDeps,
  campaign: Campaign,
  claim: string,
  rows: readonly ClaimedRow[],
): Promise<PreparedBatch | null> {
  const { db } = deps;
  try {
    let renderer: CampaignRenderer;
    try {
      renderer = await campaignRenderer(db, deps.config, campaign);
    } catch (error) {
      const reason =
        `render failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
      await moveCampaign(db, campaign.id, ['sending'], 'paused', nowIso(deps), { reason });
      deps.logger.error({ campaign_id: campaign.id, reason }, 'delivery.batch.render_failed');
      await releaseClaim(db, campaign.id, claim, nowIso(deps), []);
      return null;
    }
    const followed = await followedTopics(db, campaign, rows, renderer.topicNames);
    const suppressed = await suppressedHashes(
      db,
      rows.map((row) => emailHash(row.email)),
    );
    const openConsent = deps.config.TRACK_OPENS
      ? await openTrackingConsents(
          db,
          rows.map((row) => row.subscriberId),
        )
      : new Set<number>();
    return { renderer, followed, suppressed, openConsent };
  } catch (error) {
    await releaseClaim(db, campaign.id, claim, nowIso(deps), []).catch(() => {});
    throw error;
  }
}

/** One batch attempt in progress: its parts and what it has done so far. */
interface BatchRun extends PreparedBatch {
  deps: DeliverDeps;
  campaign: Campaign;
  attempt: BatchAttempt;
  tally: Tally;
  /** Recipients whose turn came (sent or dropped in a lane): their rows keep the claim. */
  attempted: Set<number>;
  /** Outcome writes not yet settled. */
  writes: Set<Promise<void>>;
}

/**
 * Records one recipient's outcome: counted in the tally and the metrics, and queued on the
 * process's writer, which writes it grouped with other batches' (what is not yet written when
 * the process dies is the in-flight allowance of DESIGN.md).
 */
function record(run: BatchRun, subscriberId: number, outcome: MessageOutcome): void {
  const row = ledgerOutcome(subscriberId, outcome);
  run.writes.add(run.deps.writer.record(run.campaign.id, run.attempt.claim, row));
  messagesTotal.inc({ kind: run.campaign.kind, status: row.status });
  run.tally.add(outcome);
}

/**
 * Sends the batch's messages over parallel lanes under a batch watch, then writes the
 * outcomes and releases the rows not attempted; returns the (stopped) watch. A lane that fails
 * (Redis gone from under the rate limiter, the store away) stops the others before anything
 * is released, and its error is thrown after the release.
 */
async function runLanes(run: BatchRun, sendable: readonly ClaimedRow[]): Promise<BatchWatch> {
  const { deps, campaign, attempt } = run;
  // Who unsubscribed, bounced elsewhere or was suppressed while this batch runs is dropped
  // before their turn.
  const watch = watchBatch(storeWatchPort(deps.db, campaign.id, attempt.claim, deps.now), () =>
    sendable.filter((row) => !run.attempted.has(row.subscriberId)),
  );
  let laneError: unknown;
  const lockLost = () => attempt.lock?.aborted ?? false;
  const isHalted = () => laneError !== undefined || deps.stopping() || watch.halted() || lockLost();
  let next = 0;
  const takeNext = () => sendable[next++];
  const lane = () =>
    sendFromLane(run, watch, takeNext, isHalted).catch((error: unknown) => {
      laneError ??= error;
    });
  const lanes = deps.transport.concurrency;
  try {
    await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, sendable.length)) }, lane));
  } finally {
    watch.stop();
    try {
      await deps.writer.flush();
      await Promise.all(run.writes);
    } finally {
      // Rows this attempt claimed but did not send go back to pending for the next taker; a
      // row whose message left keeps its claim even if its outcome could not be written.
      // Not when the lock is lost: a worker that took the job over holds the same claim and
      // may be sending these rows; releasing them would lose its outcome writes.
      if (!lockLost())
        await releaseClaim(deps.db, campaign.id, attempt.claim, nowIso(deps), [...run.attempted]);
    }
  }
  if (laneError !== undefined) throw laneError;
  return watch;
}

/** One lane: takes the next recipient until none is left or the batch halts. */
async function sendFromLane(
  run: BatchRun,
  watch: BatchWatch,
  takeNext: () => ClaimedRow | undefined,
  isHalted: () => boolean,
): Promise<void> {
  for (;;) {
    if (isHalted()) return;
    const row = takeNext();
    if (!row) return;
    if (run.deps.limiter) {
      await run.deps.limiter.take();
      // Not sent: the release after the lanes hands it to whoever continues this batch.
      if (isHalted()) return;
    }
    // Built inside a slot: without it SEND_CONCURRENCY batches each kept a transport's worth
    // of messages waiting in the SMTP pool's queue, long enough to outlive young-generation
    // collections, and their buffers piled up (60 MB) until a full collection.
    const outcome = await run.deps.sendSlots(() =>
      isHalted() ? null : recipientOutcome(run, watch, row),
    );
    if (outcome === null) return;
    record(run, row.subscriberId, outcome);
    if (outcome.status === 'bounced') {
      // Suppress at once: the next campaign must not mail this address again.
      await applyBounce(run.deps.db, {
        subscriberId: row.subscriberId,
        campaignId: run.campaign.id,
        kind: 'hard',
        reply: outcome.reply,
        now: nowIso(run.deps),
      });
    }
  }
}

/**
 * One recipient's turn: dropped when the watch found them blocked or (alerts only) the
 * frequency cap or quiet hours hold the alert back (src/delivery/alert-cap.ts); else personalised and
 * sent. The recipient counts as attempted from here on.
 */
async function recipientOutcome(
  run: BatchRun,
  watch: BatchWatch,
  row: ClaimedRow,
): Promise<MessageOutcome> {
  if (watch.blocked(row.subscriberId)) {
    run.attempted.add(row.subscriberId);
    return DROPPED;
  }
  const heldBack = await alertHoldBack(run.deps, run.campaign, row.subscriberId, run.deps.now());
  run.attempted.add(row.subscriberId);
  if (heldBack) return { status: 'dropped', reply: `held back: ${heldBack}` };
  const recipient: Recipient = {
    subscriberId: row.subscriberId,
    email: row.email,
    name: row.name,
    followedTopicNames: run.followed.get(row.subscriberId) ?? [],
    tokenKey: row.tokenKey,
    openTracking: run.openConsent.has(row.subscriberId),
  };
  const message = run.renderer.build(recipient);
  return sendOne((built) => run.deps.transport.send(built), message, run.attempt.finalAttempt);
}

/** Each recipient's followed topics among the campaign's audience topics, as display names. */
async function followedTopics(
  db: Kysely<Database>,
  campaign: Campaign,
  rows: readonly ClaimedRow[],
  names: Record<string, string>,
): Promise<Map<number, string[]>> {
  const follows = await db
    .selectFrom('subscriptions')
    .select(['subscriber_id', 'topic_id'])
    .where(
      'subscriber_id',
      'in',
      rows.map((row) => row.subscriberId),
    )
    .where('topic_id', 'in', campaign.audienceTopics)
    .execute();
  const bySubscriber = new Map<number, string[]>();
  for (const follow of follows) {
    const list = bySubscriber.get(follow.subscriber_id) ?? [];
    list.push(names[follow.topic_id] ?? follow.topic_id);
    bySubscriber.set(follow.subscriber_id, list);
  }
  return bySubscriber;
}

/** Pauses the campaign, saying why, when its recent failure ratio crosses the threshold. */
async function checkFailureRate(deps: DeliverDeps, campaign: Campaign, counts: BatchCounts) {
  const { attempts, failures } = attemptsAndFailures(counts);
  if (attempts === 0) return;
  const window = await recordFailureWindow(
    deps.redis,
    deps.config.QUEUE_PREFIX,
    campaign.id,
    attempts,
    failures,
    deps.now(),
  );
  const reason = autoPauseReason(window, {
    ratio: deps.config.FAILURE_PAUSE_RATIO,
    minSample: deps.config.FAILURE_PAUSE_MIN_SAMPLE,
  });
  if (reason === null) return;
  if (await moveCampaign(deps.db, campaign.id, ['sending'], 'paused', nowIso(deps), { reason })) {
    deps.logger.warn({ campaign_id: campaign.id, ...window }, 'delivery.campaign.auto_paused');
  }
}
