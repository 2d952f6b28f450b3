// Double opt-in. A subscribe request creates a pending subscriber for a new address and says
// which mail its owner is owed; it never changes a known subscriber (a stranger could type
// anyone's address). The confirm click moves pending to active and nothing else; coming back
// after an unsubscribe is an explicit request from the preferences page (token holder).
// Callers answer the same way in every case, so the form never reveals whether an address is
// known.
import type { Kysely } from 'kysely';
import { nowIso } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { createWelcome } from '../welcome/create.ts';
import type { ConfirmationRecipient, OwnerNotice } from './confirmation.ts';
import { recordEvent } from './events.ts';
import {
  type SubscriberInput,
  topicIds,
  upsertSubscriber,
  validateSubscriberInput,
} from './repository.ts';
import { removeSuppression, suppressionOf } from './suppressions.ts';

export type SubscribeDecision =
  | { send: true; kind: OwnerNotice; recipient: ConfirmationRecipient }
  | { send: false; why: 'suppressed' | 'bounced-or-complained' };

/**
 * Handles a subscribe request (validated first: a bad field throws SubscriberInputError).
 * A new address becomes pending and is owed a confirmation; a pending one is owed the
 * confirmation again; an active or unsubscribed one is owed a "manage your preferences" note;
 * nothing about a known subscriber changes. Bounced, complained or suppressed addresses are
 * never mailed.
 */
export async function requestSubscription(
  db: Kysely<Database>,
  input: Omit<SubscriberInput, 'status'>,
  now: string = nowIso(),
): Promise<SubscribeDecision> {
  const valid = validateSubscriberInput(input, await topicIds(db));
  const existing = await db
    .selectFrom('subscribers')
    .select(['id', 'status', 'email', 'email_display', 'name', 'token_key'])
    .where('email', '=', valid.email)
    .executeTakeFirst();
  const suppression = await suppressionOf(db, valid.email);
  // An unsubscribed person may still be told how to come back; other suppressions end it.
  if (suppression !== null && !(suppression === 'unsubscribe' && existing))
    return { send: false, why: 'suppressed' };
  if (!existing) {
    // The address as typed: upsertSubscriber keys by its normal form and shows it as typed.
    const email = valid.displayEmail ?? valid.email;
    const { id } = await upsertSubscriber(db, { ...valid, email, status: 'pending' }, now);
    const created = await db
      .selectFrom('subscribers')
      .select(['token_key', 'name'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return {
      send: true,
      kind: 'confirm',
      recipient: {
        subscriberId: id,
        email,
        name: created.name,
        tokenKey: created.token_key,
      },
    };
  }
  if (existing.status === 'bounced' || existing.status === 'complained') {
    return { send: false, why: 'bounced-or-complained' };
  }
  return {
    send: true,
    kind: existing.status === 'pending' ? 'confirm' : 'manage',
    recipient: {
      subscriberId: existing.id,
      email: existing.email_display ?? existing.email,
      name: existing.name,
      tokenKey: existing.token_key,
    },
  };
}

export type ConfirmOutcome = 'confirmed' | 'already-active' | 'not-found' | 'refused';

/**
 * Activates the pending subscriber a valid confirm token names. Only `pending` moves: an old
 * link never undoes an unsubscribe, a bounce, a complaint or an erasure, and no suppression is
 * ever lifted here (a suppressed address is refused).
 */
export async function confirmSubscription(
  db: Kysely<Database>,
  subscriberId: number,
  now: string = nowIso(),
): Promise<ConfirmOutcome> {
  const before = await db
    .selectFrom('subscribers')
    .select(['status', 'email'])
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  if (!before) return 'not-found';
  if (before.status === 'active') return 'already-active';
  if (before.status !== 'pending') return 'refused';
  if ((await suppressionOf(db, before.email)) !== null) return 'refused';
  const result = await db
    .updateTable('subscribers')
    .set({ status: 'active', confirmed_at: now, updated_at: now })
    .where('id', '=', subscriberId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return 'refused';
  await recordEvent(db, 'confirmed', { subscriberId }, now);
  await createWelcome(db, subscriberId, now);
  return 'confirmed';
}

export type ResubscribeOutcome = 'resubscribed' | 'already-active' | 'not-found' | 'refused';

/**
 * Brings back a subscriber who unsubscribed, on their explicit request from the preferences
 * page (they hold the token mailed to the address). Lifts their own 'unsubscribe' suppression
 * only; bounced, complained or otherwise suppressed addresses stay as they are.
 */
export async function resubscribe(
  db: Kysely<Database>,
  subscriberId: number,
  now: string = nowIso(),
): Promise<ResubscribeOutcome> {
  const before = await db
    .selectFrom('subscribers')
    .select(['status', 'email'])
    .where('id', '=', subscriberId)
    .executeTakeFirst();
  if (!before) return 'not-found';
  if (before.status === 'active') return 'already-active';
  if (before.status !== 'unsubscribed') return 'refused';
  const reason = await suppressionOf(db, before.email);
  if (reason !== null && reason !== 'unsubscribe') return 'refused';
  if (reason === 'unsubscribe') await removeSuppression(db, before.email);
  await db
    .updateTable('subscribers')
    .set({ status: 'active', updated_at: now })
    .where('id', '=', subscriberId)
    .where('status', '=', 'unsubscribed')
    .execute();
  await recordEvent(db, 'resubscribed', { subscriberId }, now);
  return 'resubscribed';
}
