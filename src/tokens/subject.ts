// A signed token is about one subscriber only if it also carries that subscriber's random key
// (subscribers.token_key): the id alone is sequential, and a leaked secret must not let anyone
// walk the ids. Every route that acts on a token goes through `verifySubscriberToken`.
import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { type TokenClaims, type TokenPurpose, verifyToken } from './index.ts';

/**
 * Purposes whose tokens minted before keys existed are still honoured: stopping mail must keep
 * working from every footer and List-Unsubscribe header already sent (RFC 8058, the law in
 * most places), and so must the bounces of mail already sent (VERP `bounce` tokens). Everything
 * that reads data or (re)activates needs the key.
 */
const KEYLESS_ALLOWED: ReadonlySet<TokenPurpose> = new Set(['unsubscribe', 'bounce']);

export type SubjectResult =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'gone' };

/** The token key of a subscriber, or null when there is no such subscriber. */
export async function subscriberKeyOf(
  db: Kysely<Database>,
  subscriberId: number,
): Promise<string | null> {
  const row = await db
    .selectFrom('subscribers')
    .select('token_key')
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  return row?.token_key ?? null;
}

/**
 * Verifies a token (signature, purpose, expiry) and that its key is the named subscriber's.
 * `gone`: the subscriber no longer exists (erased); a wrong key reads as a bad signature.
 */
export async function verifySubscriberToken(
  db: Kysely<Database>,
  secret: string,
  purpose: TokenPurpose,
  token: string,
  now: Date = new Date(),
): Promise<SubjectResult> {
  const verified = verifyToken(secret, purpose, token, now);
  if (!verified.ok) return verified;
  const { claims } = verified;
  const stored = await subscriberKeyOf(db, claims.subscriberId);
  if (stored === null) return { ok: false, reason: 'gone' };
  if (claims.subscriberKey === undefined) {
    return KEYLESS_ALLOWED.has(purpose) ? verified : { ok: false, reason: 'bad-signature' };
  }
  const given = Buffer.from(claims.subscriberKey, 'hex');
  const expected = Buffer.from(stored, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad-signature' };
  }
  return verified;
}
