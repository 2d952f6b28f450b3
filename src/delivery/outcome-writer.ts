// Writes delivery outcomes of every batch running in this process to the ledger together:
// one transaction every FLUSH_MS (or FLUSH_ROWS) instead of one per batch, so that eight
// concurrent batches do not each commit a handful of rows.
import type { Kysely } from 'kysely';
import { type LedgerOutcome, recordOutcomeGroups } from '../ledger/ledger.ts';
import type { Database } from '../store/schema.ts';

/** Outcomes not yet written when a process dies are the in-flight allowance of DESIGN.md. */
const FLUSH_MS = 100;
const FLUSH_ROWS = 1_000;

/**
 * A passing store error (a busy SQLite file, a PostgreSQL failover) must not turn messages
 * that already left into unsent rows: try the write again a few times before giving up.
 */
async function withRetries(write: () => Promise<void>, attempts = 5): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}

export interface OutcomeWriter {
  /** Queues an outcome; the promise settles once it (and its cycle) is in the ledger. */
  record(campaignId: number, claim: string, outcome: LedgerOutcome): Promise<void>;
  /** Writes whatever is queued now. */
  flush(): Promise<void>;
}

interface Cycle {
  /** Outcomes by campaign and claim (one write each). */
  byClaim: Map<string, { campaignId: number; claim: string; outcomes: LedgerOutcome[] }>;
  rows: number;
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

/**
 * A writer for one process; `now` stamps the rows. `flushMs` (default 100) is how long a
 * cycle collects outcomes; tests hold a cycle open with a long one and end it with flush().
 */
export function createOutcomeWriter(
  db: Kysely<Database>,
  now: () => Date,
  options: { flushMs?: number } = {},
): OutcomeWriter {
  const flushMs = options.flushMs ?? FLUSH_MS;
  let cycle: Cycle | null = null;
  let timer: NodeJS.Timeout | null = null;
  // Cycles are written one after another, in order.
  let writing: Promise<void> = Promise.resolve();

  const newCycle = (): Cycle => {
    let settle!: (error?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // A cycle nobody awaits must not become an unhandled rejection.
    done.catch(() => {});
    return { byClaim: new Map(), rows: 0, done, settle };
  };

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    const current = cycle;
    cycle = null;
    if (!current) return writing;
    writing = writing.then(async () => {
      try {
        const stamp = now().toISOString();
        // Every batch's outcomes in one transaction: one commit per cycle, not per batch.
        const groups = [...current.byClaim.values()];
        await withRetries(() => recordOutcomeGroups(db, groups, stamp));
        current.settle();
      } catch (error) {
        current.settle(error);
      }
    });
    return current.done;
  };

  return {
    record(campaignId, claim, outcome) {
      cycle ??= newCycle();
      const key = `${campaignId}|${claim}`;
      const group = cycle.byClaim.get(key);
      if (group) group.outcomes.push(outcome);
      else cycle.byClaim.set(key, { campaignId, claim, outcomes: [outcome] });
      cycle.rows += 1;
      const done = cycle.done;
      if (cycle.rows >= FLUSH_ROWS) void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
      return done;
    },
    flush,
  };
}
