// One place that counts a batch's outcomes and says how each is written to the ledger.
import type { LedgerOutcome } from '../ledger/ledger.ts';
import type { ReplyCodes } from '../mail/smtp-reply.ts';
import type { MessageOutcome } from './send-one.ts';

/** A batch's outcomes counted by kind (`suppressed` counts the dropped recipients). */
export interface BatchCounts {
  sent: number;
  temporary: number;
  failed: number;
  bounced: number;
  suppressed: number;
  /** The codes of the last failed send (temporary or permanent), for logs; null when none. */
  lastFailure: ReplyCodes | null;
}

export interface Tally {
  /** Counts one outcome. */
  add(outcome: MessageOutcome): void;
  /** The counts so far (a copy). */
  counts(): BatchCounts;
}

/** A fresh tally, every count at zero. */
export function createTally(): Tally {
  const counts: BatchCounts = {
    sent: 0,
    temporary: 0,
    failed: 0,
    bounced: 0,
    suppressed: 0,
    lastFailure: null,
  };
  return {
    add(outcome) {
      if (outcome.status === 'dropped') {
        counts.suppressed += 1;
        return;
      }
      counts[outcome.status] += 1;
      if (outcome.status !== 'sent') counts.lastFailure = outcome.codes;
    },
    counts: () => ({ ...counts }),
  };
}

/** Sends that reached the transport, and those among them that failed (the failure window). */
export function attemptsAndFailures(counts: BatchCounts): { attempts: number; failures: number } {
  const failures = counts.temporary + counts.failed + counts.bounced;
  return { attempts: counts.sent + failures, failures };
}

/**
 * The ledger row an outcome writes: a temporary failure puts the row back to `pending` (with
 * the attempt counted), a dropped recipient becomes `suppressed` without an attempt.
 */
export function ledgerOutcome(subscriberId: number, outcome: MessageOutcome): LedgerOutcome {
  switch (outcome.status) {
    case 'dropped':
      return { subscriberId, status: 'suppressed', reply: outcome.reply, attempted: false };
    case 'temporary':
      return { subscriberId, status: 'pending', reply: outcome.reply, attempted: true };
    default:
      return { subscriberId, status: outcome.status, reply: outcome.reply, attempted: true };
  }
}
