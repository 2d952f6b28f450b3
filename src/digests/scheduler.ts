// The digest tick's BullMQ job scheduler on the `digests` queue (one job every DIGEST_TICK_MS).
import type { Queues } from '../delivery/queues.ts';

export const DIGEST_SCHEDULER_ID = 'digest-tick';

/** Makes sure the digest tick's job scheduler exists (idempotent; Redis may have lost it). */
export async function ensureDigestScheduler(
  queues: Pick<Queues, 'digests'>,
  everyMs: number,
): Promise<void> {
  await queues.digests.upsertJobScheduler(
    DIGEST_SCHEDULER_ID,
    { every: everyMs },
    { name: DIGEST_SCHEDULER_ID, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
}
