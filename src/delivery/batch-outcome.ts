// What a batch attempt's end asks of its worker: a pure decision over what happened.
import type { CampaignStatus } from '../store/schema.ts';

/**
 * done: every claimed row has an outcome · skipped: the campaign is not sending ·
 * early: the job ran before its rows fall due (promoted, or a clock ahead of the planner's);
 * it waits until then rather than leave the rows to the reconciler's next pass ·
 * halted: paused or cancelled mid-batch · stopped: hand the job back untouched (the process is
 * stopping, or the campaign was paused and resumed meanwhile) · retry: some rows failed
 * temporarily and wait for the job's next attempt (the worker throws BatchRetryError) ·
 * lost: the worker lost the job's lock mid-batch and stopped sending; the job is no longer
 * its to finish (BullMQ finds it stalled and runs it again, or another worker already does).
 */
export type BatchOutcome = 'done' | 'skipped' | 'early' | 'halted' | 'stopped' | 'retry' | 'lost';

export interface BatchEnd {
  /** The job's lock could not be renewed: the job may be running elsewhere. */
  lockLost: boolean;
  /** The process is shutting down. */
  stopping: boolean;
  /** The batch watch saw the campaign leave `sending` (or a heartbeat fail). */
  halted: boolean;
  /** The campaign's status read after the lanes ended; only consulted when halted. */
  statusAfterHalt: CampaignStatus | undefined;
  /** Rows that failed temporarily in this attempt. */
  temporary: number;
}

/** Decides how a batch attempt that ran its lanes to the end finishes. */
export function decideBatchOutcome(end: BatchEnd): BatchOutcome {
  // Before `stopping`: a job this worker no longer holds cannot be handed back by it.
  if (end.lockLost) return 'lost';
  if (end.stopping) return 'stopped';
  // Paused and already resumed while this job ran: its resume could not enqueue this job
  // (its id was taken), so hand the job back rather than leave rows without one.
  if (end.halted) return end.statusAfterHalt === 'sending' ? 'stopped' : 'halted';
  if (end.temporary > 0) return 'retry';
  return 'done';
}
