// The suppression list as the editor API and the CLI both use it: list it, lift one address.
// (Adding is `addSuppression` in events.ts; the delivery path reads the list there too.)
import type { Kysely } from 'kysely';
import { notFound } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Database, SuppressionReason } from '../store/schema.ts';
import { recordEvent, removeSuppression } from './events.ts';
import { emailHash } from './identity.ts';

/** One suppressed address as both interfaces show it (an erased one has no address left). */
export interface SuppressionEntry {
  id: number;
  emailHash: string;
  email: string | null;
  reason: SuppressionReason;
  note: string | null;
  createdAt: string;
}

/** Suppressions in id order, optionally of one reason; a page when `limit` is given. */
export async function listSuppressions(
  db: Kysely<Database>,
  filter: { reason?: SuppressionReason; limit?: number; offset?: number } = {},
): Promise<SuppressionEntry[]> {
  let select = db.selectFrom('suppressions').selectAll();
  if (filter.reason) select = select.where('reason', '=', filter.reason);
  select = select.orderBy('id');
  if (filter.limit !== undefined) select = select.limit(filter.limit).offset(filter.offset ?? 0);
  const rows = await select.execute();
  return rows.map((r) => ({
    id: r.id,
    emailHash: r.email_hash,
    email: r.email,
    reason: r.reason,
    note: r.note,
    createdAt: r.created_at,
  }));
}

/**
 * Lifts the suppression of `email` (an admin action): removes it, records a
 * `suppression.removed` event naming who did it, and logs it by hash. Throws a not-found
 * InputError when the address is not on the list.
 */
export async function liftSuppression(
  db: Kysely<Database>,
  log: Logger,
  email: string,
  by: string | null,
): Promise<{ removed: true; emailHash: string; reason: SuppressionReason | null }> {
  const result = await removeSuppression(db, email);
  if (!result.removed) throw notFound('email', 'the address is not on the suppression list');
  const hash = emailHash(email);
  await recordEvent(db, 'suppression.removed', {
    detail: { emailHash: hash, reason: result.reason, by },
  });
  log.warn({ emailHash: hash, reason: result.reason }, 'suppressions.removed');
  return { removed: true, emailHash: hash, reason: result.reason };
}
