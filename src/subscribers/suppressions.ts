// The suppression list: addresses Herald never mails (hard bounces, complaints, unsubscribes,
// editors' additions, erased subscribers), keyed by the hash of the normal form of the address
// (src/subscribers/identity.ts) so an erased address is kept without being stored. Every read
// and write of the list goes through here, except the ledger's fan-out insert (it marks
// suppressed recipients in the same statement) and the address redaction of an erasure.
import type { Kysely, Transaction } from 'kysely';
import { notFound } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { nowIso } from '../store/db.ts';
import type { Database, SuppressionReason } from '../store/schema.ts';
import { recordEvent } from './events.ts';
import { emailHash, normaliseEmail } from './identity.ts';

type Db = Kysely<Database> | Transaction<Database>;

export const suppressionReasons = [
  'hard-bounce',
  'complaint',
  'unsubscribe',
  'manual',
  'erased',
] as const satisfies SuppressionReason[];

/** Adds an address to the suppression list; an address already there keeps its first reason. */
export async function addSuppression(
  db: Db,
  email: string,
  reason: SuppressionReason,
  note: string | null = null,
  now: string = nowIso(),
): Promise<{ added: boolean }> {
  const result = await db
    .insertInto('suppressions')
    .values({
      email_hash: emailHash(email),
      email: reason === 'erased' ? null : normaliseEmail(email),
      reason,
      note,
      created_at: now,
    })
    .onConflict((oc) => oc.column('email_hash').doNothing())
    .executeTakeFirst();
  return { added: Number(result.numInsertedOrUpdatedRows ?? 0) > 0 };
}

/** Removes an address from the suppression list; returns the removed reason, or null. */
export async function removeSuppression(
  db: Db,
  email: string,
): Promise<{ removed: boolean; reason: SuppressionReason | null }> {
  const hash = emailHash(email);
  const row = await db
    .selectFrom('suppressions')
    .select('reason')
    .where('email_hash', '=', hash)
    .executeTakeFirst();
  if (!row) return { removed: false, reason: null };
  await db.deleteFrom('suppressions').where('email_hash', '=', hash).execute();
  return { removed: true, reason: row.reason };
}

/** The suppression reason for an address, or null when it may be mailed. */
export async function suppressionOf(db: Db, email: string): Promise<SuppressionReason | null> {
  const row = await db
    .selectFrom('suppressions')
    .select('reason')
    .where('email_hash', '=', emailHash(email))
    .executeTakeFirst();
  return row?.reason ?? null;
}

/** Whether an address is on the suppression list. */
export async function isSuppressed(db: Db, email: string): Promise<boolean> {
  return (await suppressionOf(db, email)) !== null;
}

/** The subset of the given email hashes that are on the suppression list. */
export async function suppressedHashes(db: Db, hashes: readonly string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db
    .selectFrom('suppressions')
    .select('email_hash')
    .where('email_hash', 'in', [...hashes])
    .execute();
  return new Set(rows.map((row) => row.email_hash));
}

/** The suppression reason of each given hash that is on the list. */
export async function suppressionReasonsOf(
  db: Db,
  hashes: readonly string[],
): Promise<Map<string, SuppressionReason>> {
  const reasons = new Map<string, SuppressionReason>();
  if (hashes.length === 0) return reasons;
  const rows = await db
    .selectFrom('suppressions')
    .select(['email_hash', 'reason'])
    .where('email_hash', 'in', [...hashes])
    .execute();
  for (const row of rows) reasons.set(row.email_hash, row.reason);
  return reasons;
}

/**
 * Keeps only the hash of an erased address on the list: whatever the earlier reason (and its
 * note), the stored address goes, and the entry says 'erased'.
 */
export async function suppressErased(db: Db, email: string, now: string = nowIso()): Promise<void> {
  await db.deleteFrom('suppressions').where('email_hash', '=', emailHash(email)).execute();
  await addSuppression(db, email, 'erased', null, now);
}

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
  filter: {
    reason?: SuppressionReason;
    limit?: number;
    offset?: number;
    /** The console lists the newest first; exports keep id order. */
    newestFirst?: boolean;
  } = {},
): Promise<SuppressionEntry[]> {
  let select = db.selectFrom('suppressions').selectAll();
  if (filter.reason) select = select.where('reason', '=', filter.reason);
  select = select.orderBy('id', filter.newestFirst ? 'desc' : 'asc');
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

function toEntry(r: {
  id: number;
  email_hash: string;
  email: string | null;
  reason: SuppressionReason;
  note: string | null;
  created_at: string;
}): SuppressionEntry {
  return {
    id: Number(r.id),
    emailHash: r.email_hash,
    email: r.email,
    reason: r.reason,
    note: r.note,
    createdAt: r.created_at,
  };
}

/** The list's entry for an address (matched by the hash of its normal form), or null. */
export async function findSuppression(db: Db, email: string): Promise<SuppressionEntry | null> {
  const row = await db
    .selectFrom('suppressions')
    .selectAll()
    .where('email_hash', '=', emailHash(email))
    .executeTakeFirst();
  return row ? toEntry(row) : null;
}

/** One entry by its id, or null. */
export async function suppressionById(db: Db, id: number): Promise<SuppressionEntry | null> {
  const row = await db
    .selectFrom('suppressions')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toEntry(row) : null;
}

/** How many entries the list holds (of one reason when given). */
export async function countSuppressions(
  db: Db,
  filter: { reason?: SuppressionReason } = {},
): Promise<number> {
  let query = db.selectFrom('suppressions').select((eb) => eb.fn.countAll().as('n'));
  if (filter.reason) query = query.where('reason', '=', filter.reason);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
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
