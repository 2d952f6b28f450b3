// What ops can do to a queue: read its counts, pause, resume, drain, retry failed jobs.
// Plain functions over BullMQ Queue objects, shared by the CLI and the /api/queues routes.
import type { Job, Queue } from 'bullmq';
import { ALL_QUEUES, type QueueName, type Queues } from '../delivery/queues.ts';

export const JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'completed',
  'failed',
  'paused',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface QueueStats {
  name: QueueName;
  isPaused: boolean;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  paused: number;
}

/** Tells whether `name` is one of Herald's queues. */
export function isQueueName(name: string): name is QueueName {
  return (ALL_QUEUES as string[]).includes(name);
}

/**
 * Reads one queue's job counts per state and whether it is paused. BullMQ 6 keeps the jobs
 * of a paused queue in its wait list; like BullMQ 5 we report them as `paused`, not waiting.
 */
export async function queueStats(name: QueueName, queue: Queue): Promise<QueueStats> {
  const [counts, isPaused] = await Promise.all([
    queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'),
    queue.isPaused(),
  ]);
  const queued = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
  return {
    name,
    isPaused,
    waiting: isPaused ? 0 : queued,
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    completed: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    paused: isPaused ? queued : 0,
  };
}

/** Reads the counts of every Herald queue, in the order of ALL_QUEUES. */
export async function allQueueStats(queues: Queues): Promise<QueueStats[]> {
  return Promise.all(ALL_QUEUES.map((name) => queueStats(name, queues[name])));
}

/** Pauses a queue for every worker (new jobs wait); returns its counts afterwards. */
export async function pauseQueue(name: QueueName, queue: Queue): Promise<QueueStats> {
  await queue.pause();
  return queueStats(name, queue);
}

/** Resumes a paused queue; returns its counts afterwards. */
export async function resumeQueue(name: QueueName, queue: Queue): Promise<QueueStats> {
  await queue.resume();
  return queueStats(name, queue);
}

/**
 * Removes the jobs waiting to run (and the delayed ones when asked); active jobs finish.
 * Returns how many were removed. The ledger still holds the unsent rows, so the reconciler
 * can rebuild the work later: draining never loses a send for good.
 */
export async function drainQueue(
  queue: Queue,
  options: { delayed?: boolean } = {},
): Promise<{ removed: number }> {
  const states = options.delayed
    ? (['waiting', 'prioritized', 'delayed'] as const)
    : (['waiting', 'prioritized'] as const);
  const before = await queue.getJobCounts(...states);
  await queue.drain(options.delayed ?? false);
  const removed = states.reduce((sum, state) => sum + (before[state] ?? 0), 0);
  return { removed };
}

/** The campaign a job belongs to, read from its data (`campaignId` or `campaign_id`). */
export function campaignOfJob(job: Pick<Job, 'data'>): number | null {
  const data: unknown = job.data;
  if (data === null || typeof data !== 'object') return null;
  const record = data as Record<string, unknown>;
  const value = record.campaignId ?? record.campaign_id;
  const id = typeof value === 'string' ? Number(value) : value;
  return typeof id === 'number' && Number.isInteger(id) ? id : null;
}

/**
 * Moves failed jobs back to waiting, all of them or only those of one campaign.
 * Returns how many were retried.
 */
export async function retryFailed(
  queue: Queue,
  options: { campaignId?: number; pageSize?: number } = {},
): Promise<{ retried: number }> {
  const pageSize = options.pageSize ?? 500;
  if (options.campaignId === undefined) {
    const { failed = 0 } = await queue.getJobCounts('failed');
    if (failed > 0) await queue.retryJobs({ state: 'failed', count: pageSize });
    return { retried: failed };
  }
  let retried = 0;
  let start = 0;
  // Retried jobs leave the failed set, so the page window only advances past the ones kept.
  for (;;) {
    const jobs = await queue.getFailed(start, start + pageSize - 1);
    if (jobs.length === 0) break;
    let kept = 0;
    for (const job of jobs) {
      if (campaignOfJob(job) === options.campaignId) {
        await job.retry('failed');
        retried += 1;
      } else {
        kept += 1;
      }
    }
    start += kept;
    if (jobs.length < pageSize) break;
  }
  return { retried };
}
