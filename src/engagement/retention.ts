// The retention job: rides on the reconciler's tick (every RECONCILE_EVERY_MS) but runs at most
// once an hour per process. applyRetention is idempotent, so two processes doing it is harmless.
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Database } from '../store/schema.ts';
import { applyRetention, type RetentionResult } from './store.ts';

const RETENTION_EVERY_MS = 60 * 60 * 1000;

/** Returns a tick that applies ENGAGEMENT_RETENTION_DAYS when an hour has passed since the last. */
export function createRetentionTick(deps: {
  db: Kysely<Database>;
  config: Pick<Config, 'ENGAGEMENT_RETENTION_DAYS'>;
  logger: Logger;
}): (now: Date) => Promise<RetentionResult | null> {
  let lastRun = Number.NEGATIVE_INFINITY;
  return async (now) => {
    if (now.getTime() - lastRun < RETENTION_EVERY_MS) return null;
    lastRun = now.getTime();
    const result = await applyRetention(deps.db, deps.config.ENGAGEMENT_RETENTION_DAYS, now);
    if (result.engagementRows > 0 || result.linkClickRows > 0) {
      deps.logger.info({ ...result }, 'engagement.retention.applied');
    }
    return result;
  };
}
