// One batch of one campaign: claim its unsent ledger rows, personalise, send, record outcomes.
import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import { alertHoldBack } from '../alerts/cap.ts';
import { suppressedHashes } from '../campaigns/audience.ts';
import type { Campaign } from '../campaigns/model.ts';
import { getCampaign, moveCampaign } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { type Logger, maskEmails } from '../log/index.ts';
import type { LedgerOutcome } from '../store/ledger.ts';
import type { Database } from '../store/schema.ts';
import { applyBounce } from '../subscribers/events.ts';
import { emailHash } from '../subscribers/identity.ts';
import type { BatchJobData } from './jobs.ts';
import type { Recipient } from './message.ts';
import { messagesTotal } from './metrics.ts';
import type { OutcomeWriter } from './outcome-writer.ts';
import { finishIfDone, recordFailureWindow, shouldAutoPause } from './progress.ts';
import type { SendLimiter } from './rate.ts';
import { campaignRenderer } from './renderer.ts';
import { classifySendError, type ReplyCodes } from './smtp-reply.ts';
import type { MailTransport } from './transport.ts';

export interface DeliverDeps {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  redis: Redis;
  transport: MailTransport;
  limiter: SendLimiter | null;
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
}

export interface BatchResult {
  /**
   * done: every claimed row has an outcome · skipped: the campaign is not sending ·
   * halted: paused or cancelled mid-batch · stopped: the process is stopping, rows released ·
   * retry: some rows failed temporarily and wait for the job's next attempt.
   */
  outcome: 'done' | 'skipped' | 'halted' | 'stopped' | 'retry';
  sent: number;
  temporary: number;
  failed: number;
  bounced: number;
  suppressed: number;
  /** The codes of the last failed send (temporary or permanent), for logs; null when none. */
  lastFailure: ReplyCodes | null;
}

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

interface ClaimedRow {
  subscriberId: number;
  email: string;
  name: string | null;
  active: boolean;
  tokenKey: string;
  openTracking: boolean;
}

/** How often a running batch re-reads its campaign's status (pause must act within a second). */
const STATUS_POLL_MS = 250;

/** Sends one batch; see BatchResult for what the outcome asks of the worker. */
export async function deliverBatch(
  deps: DeliverDeps,
  data: BatchJobData,
  attempt: BatchAttempt,
): Promise<BatchResult> {
  const { db, config } = deps;
  const result: BatchResult = {
    outcome: 'done',
    sent: 0,
    temporary: 0,
    failed: 0,
    bounced: 0,
    suppressed: 0,
    lastFailure: null,
  };
  const campaign = await getCampaign(db, data.campaignId);
  if (campaign?.status !== 'sending') return { ...result, outcome: 'skipped' };

  const rows = await claimRows(db, data, attempt.claim, deps.now().toISOString());
  if (rows.length === 0) {
    await finishIfDone(db, campaign.id, deps.now().toISOString());
    return result;
  }
  let renderer: Awaited<ReturnType<typeof campaignRenderer>>;
  let followed: Map<number, string[]>;
  let suppressed: Set<string>;
  try {
    try {
      renderer = await campaignRenderer(db, config, campaign);
    } catch (error) {
      // The content cannot be rendered any more (an article deleted, a template broken):
      // pause with the reason instead of failing every batch.
      const reason =
        `render failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
      await moveCampaign(db, campaign.id, ['sending'], 'paused', deps.now().toISOString(), {
        reason,
      });
      deps.logger.error({ campaign_id: campaign.id, reason }, 'delivery.batch.render_failed');
      await releaseClaim(db, campaign.id, attempt.claim, deps.now().toISOString(), []);
      return { ...result, outcome: 'halted' };
    }
    followed = await followedTopics(db, campaign, rows, renderer.topicNames);
    suppressed = await suppressedHashes(
      db,
      rows.map((row) => emailHash(row.email)),
    );
  } catch (error) {
    await releaseClaim(db, campaign.id, attempt.claim, deps.now().toISOString(), []).catch(
      () => {},
    );
    throw error;
  }

  // Outcomes reach the ledger through the process's writer, grouped with other batches';
  // what is not yet written when the process dies is the in-flight allowance of DESIGN.md.
  const cycles = new Set<Promise<void>>();
  const record = (outcome: LedgerOutcome) => {
    cycles.add(deps.writer.record(campaign.id, attempt.claim, outcome));
    messagesTotal.inc({ kind: campaign.kind, status: outcome.status });
  };
  const sendable: ClaimedRow[] = [];
  for (const row of rows) {
    if (!row.active || suppressed.has(emailHash(row.email))) {
      record({
        subscriberId: row.subscriberId,
        status: 'suppressed',
        reply: null,
        attempted: false,
      });
      result.suppressed += 1;
    } else {
      sendable.push(row);
    }
  }

  // Who unsubscribed, bounced elsewhere or was suppressed while this batch runs is dropped
  // before their turn (re-read every second).
  const attempted = new Set<number>();
  const halt = watchCampaign(db, campaign.id, attempt.claim, deps.now, () =>
    sendable.filter((row) => !attempted.has(row.subscriberId)),
  );
  // A lane that fails (Redis gone from under the rate limiter, the store away) stops the
  // others before anything is released: no lane may still be sending a released row.
  let laneError: unknown;
  const isHalted = () => laneError !== undefined || deps.stopping() || halt.halted();
  let next = 0;
  const lane = async () => {
    try {
      await sendFromLane();
    } catch (error) {
      laneError ??= error;
    }
  };
  const sendFromLane = async () => {
    for (;;) {
      if (isHalted()) return;
      const row = sendable[next];
      if (!row) return;
      next += 1;
      if (deps.limiter) {
        await deps.limiter.take();
        // Not sent: releaseClaim below hands it to whoever continues this batch.
        if (isHalted()) return;
      }
      if (halt.blocked(row.subscriberId)) {
        attempted.add(row.subscriberId);
        record({
          subscriberId: row.subscriberId,
          status: 'suppressed',
          reply: null,
          attempted: false,
        });
        result.suppressed += 1;
        continue;
      }
      // Alerts only: the frequency cap and quiet hours (src/alerts/cap.ts).
      const heldBack = await alertHoldBack(deps, campaign, row.subscriberId, deps.now());
      attempted.add(row.subscriberId);
      if (heldBack) {
        record({
          subscriberId: row.subscriberId,
          status: 'suppressed',
          reply: `held back: ${heldBack}`,
          attempted: false,
        });
        result.suppressed += 1;
        continue;
      }
      const recipient: Recipient = {
        subscriberId: row.subscriberId,
        email: row.email,
        name: row.name,
        followedTopicNames: followed.get(row.subscriberId) ?? [],
        tokenKey: row.tokenKey,
        openTracking: row.openTracking,
      };
      const message = renderer.build(recipient);
      try {
        const { response } = await deps.transport.send(message);
        record({
          subscriberId: row.subscriberId,
          status: 'sent',
          reply: response.slice(0, 500),
          attempted: true,
        });
        result.sent += 1;
      } catch (error) {
        const failure = classifySendError(error);
        result.lastFailure = { smtpCode: failure.smtpCode, enhancedStatus: failure.enhancedStatus };
        if (failure.kind === 'permanent') {
          record({
            subscriberId: row.subscriberId,
            status: 'bounced',
            reply: failure.reply,
            attempted: true,
          });
          result.bounced += 1;
          // Suppress at once: the next campaign must not mail this address again.
          await applyBounce(db, {
            subscriberId: row.subscriberId,
            campaignId: campaign.id,
            kind: 'hard',
            reply: failure.reply,
            now: deps.now().toISOString(),
          });
        } else if (attempt.finalAttempt) {
          record({
            subscriberId: row.subscriberId,
            status: 'failed',
            reply: failure.reply,
            attempted: true,
          });
          result.failed += 1;
        } else {
          record({
            subscriberId: row.subscriberId,
            status: 'pending',
            reply: failure.reply,
            attempted: true,
          });
          result.temporary += 1;
        }
      }
    }
  };
  const lanes = deps.transport.kind === 'smtp' ? Math.max(1, config.SMTP_POOL_SIZE * 2) : 4;
  try {
    await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, sendable.length)) }, lane));
  } finally {
    halt.stop();
    try {
      await deps.writer.flush();
      await Promise.all(cycles);
    } finally {
      // Rows this attempt claimed but did not send go back to pending for the next taker; a
      // row whose message left keeps its claim even if its outcome could not be written.
      await releaseClaim(db, campaign.id, attempt.claim, deps.now().toISOString(), [...attempted]);
    }
  }
  if (laneError !== undefined) throw laneError;

  const attempts = result.sent + result.temporary + result.failed + result.bounced;
  if (attempts > 0)
    await checkFailureRate(
      deps,
      campaign,
      attempts,
      result.temporary + result.failed + result.bounced,
    );

  if (deps.stopping()) return { ...result, outcome: 'stopped' };
  if (halt.halted()) {
    // Paused and already resumed while this job ran: its resume could not enqueue this job
    // (its id was taken), so hand the job back rather than leave rows without one.
    const now = await getCampaign(db, campaign.id);
    return { ...result, outcome: now?.status === 'sending' ? 'stopped' : 'halted' };
  }
  if (result.temporary > 0) return { ...result, outcome: 'retry' };
  await finishIfDone(db, campaign.id, deps.now().toISOString());
  return result;
}

/** Claims the batch's sendable rows for this attempt and reads them with their subscribers. */
async function claimRows(
  db: Kysely<Database>,
  data: BatchJobData,
  claim: string,
  now: string,
): Promise<ClaimedRow[]> {
  await db
    .updateTable('deliveries')
    .set({ status: 'sending', claim, updated_at: now })
    .where('campaign_id', '=', data.campaignId)
    .where('batch_no', '=', data.batchNo)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'pending'),
        eb.and([eb('status', '=', 'sending'), eb('claim', '=', claim)]),
      ]),
    )
    .where((eb) => eb.or([eb('due_at', 'is', null), eb('due_at', '<=', now)]))
    .execute();
  const rows = await db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['d.subscriber_id', 's.name', 's.status', 's.token_key'])
    // Added by migration 0009 (src/store/schema-engagement.ts): open-tracking consent.
    .select(sql<number>`s.open_tracking_consent`.as('open_consent'))
    // The address as typed (identity is its lower-cased form): it goes in the To header and,
    // as RCPT TO, in the envelope too, since a receiving server may treat the local part's
    // case as significant (RFC 5321 §2.4) and the typed form is the one its owner gave.
    .select((eb) => eb.fn.coalesce('s.email_display', 's.email').as('email'))
    .where('d.campaign_id', '=', data.campaignId)
    .where('d.batch_no', '=', data.batchNo)
    .where('d.status', '=', 'sending')
    .where('d.claim', '=', claim)
    .orderBy('d.subscriber_id')
    .execute();
  // A ledger row whose subscriber was erased has no join partner: it can never be sent.
  await db
    .updateTable('deliveries')
    .set({ status: 'suppressed', claim: null, updated_at: now })
    .where('campaign_id', '=', data.campaignId)
    .where('batch_no', '=', data.batchNo)
    .where('status', '=', 'sending')
    .where('claim', '=', claim)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('subscribers as s')
            .select('s.id')
            .whereRef('s.id', '=', 'deliveries.subscriber_id'),
        ),
      ),
    )
    .execute();
  return rows.map((row) => ({
    subscriberId: row.subscriber_id,
    email: row.email,
    name: row.name,
    active: row.status === 'active',
    tokenKey: row.token_key,
    openTracking: Number(row.open_consent) === 1,
  }));
}

/** Puts rows still claimed by this attempt back to pending, except those it attempted. */
async function releaseClaim(
  db: Kysely<Database>,
  campaignId: number,
  claim: string,
  now: string,
  attempted: readonly number[],
) {
  let update = db
    .updateTable('deliveries')
    .set({ status: 'pending', claim: null, updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'sending')
    .where('claim', '=', claim);
  if (attempted.length > 0) update = update.where('subscriber_id', 'not in', attempted);
  await update.execute();
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

/** Claimed rows get a fresh `updated_at` this often, so the reconciler sees them as alive. */
const HEARTBEAT_MS = 20_000;

/** How often a running batch re-reads who of its remaining recipients may no longer be mailed. */
const BLOCKED_POLL_MS = 1_000;

/**
 * Polls the campaign's status so a pause or cancel stops the batch within a second; re-reads
 * which remaining recipients were unsubscribed, bounced or suppressed meanwhile; keeps this
 * attempt's claimed rows alive (a crashed worker's rows go stale and are released). A failed
 * heartbeat halts the batch: its rows could be released under it.
 */
function watchCampaign(
  db: Kysely<Database>,
  campaignId: number,
  claim: string,
  now: () => Date,
  remaining: () => ClaimedRow[],
) {
  let halted = false;
  const blocked = new Set<number>();
  const heartbeat = setInterval(() => {
    db.updateTable('deliveries')
      .set({ updated_at: now().toISOString() })
      .where('campaign_id', '=', campaignId)
      .where('status', '=', 'sending')
      .where('claim', '=', claim)
      .execute()
      .catch(() => {
        halted = true;
      });
  }, HEARTBEAT_MS);
  const timer = setInterval(() => {
    db.selectFrom('campaigns')
      .select('status')
      .where('id', '=', campaignId)
      .executeTakeFirst()
      .then((row) => {
        if (row?.status !== 'sending') halted = true;
      })
      .catch(() => {});
  }, STATUS_POLL_MS);
  const blockedTimer = setInterval(() => {
    const rows = remaining();
    if (rows.length === 0) return;
    refreshBlocked(db, rows, blocked).catch(() => {});
  }, BLOCKED_POLL_MS);
  return {
    halted: () => halted,
    blocked: (subscriberId: number) => blocked.has(subscriberId),
    stop: () => {
      clearInterval(timer);
      clearInterval(heartbeat);
      clearInterval(blockedTimer);
    },
  };
}

/** Adds to `blocked` the recipients no longer active (or erased) or now on the suppression list. */
async function refreshBlocked(
  db: Kysely<Database>,
  rows: readonly ClaimedRow[],
  blocked: Set<number>,
) {
  const active = await db
    .selectFrom('subscribers')
    .select('id')
    .where(
      'id',
      'in',
      rows.map((row) => row.subscriberId),
    )
    .where('status', '=', 'active')
    .execute();
  const stillActive = new Set(active.map((row) => row.id));
  for (const row of rows) if (!stillActive.has(row.subscriberId)) blocked.add(row.subscriberId);
  const hashes = await suppressedHashes(
    db,
    rows.map((row) => emailHash(row.email)),
  );
  for (const row of rows) if (hashes.has(emailHash(row.email))) blocked.add(row.subscriberId);
}

/** Pauses the campaign, saying why, when its recent failure ratio crosses the threshold. */
async function checkFailureRate(
  deps: DeliverDeps,
  campaign: Campaign,
  attempts: number,
  failures: number,
) {
  const window = await recordFailureWindow(
    deps.redis,
    deps.config.QUEUE_PREFIX,
    campaign.id,
    attempts,
    failures,
    deps.now(),
  );
  const policy = {
    ratio: deps.config.FAILURE_PAUSE_RATIO,
    minSample: deps.config.FAILURE_PAUSE_MIN_SAMPLE,
  };
  if (!shouldAutoPause(window, policy)) return;
  const percent = Math.round((100 * window.failures) / window.attempts);
  const reason = `auto-paused: ${percent}% of the last ${window.attempts} attempts failed (threshold ${Math.round(policy.ratio * 100)}%)`;
  if (
    await moveCampaign(deps.db, campaign.id, ['sending'], 'paused', deps.now().toISOString(), {
      reason,
    })
  ) {
    deps.logger.warn({ campaign_id: campaign.id, ...window }, 'delivery.campaign.auto_paused');
  }
}
