// Double opt-in: a subscribe request creates (or refreshes) a pending subscriber and says
// whether a confirmation mail is owed; the confirm click activates. The caller answers the
// same way in every case, so the form never reveals whether an address is known.
import type { Kysely } from 'kysely';
import { nowIso } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { createWelcome } from '../welcome/create.ts';
import type { ConfirmationRecipient } from './confirmation.ts';
import { recordEvent, removeSuppression, suppressionOf } from './events.ts';
import {
  confirmSubscriber,
  type SubscriberInput,
  topicIds,
  updatePreferences,
  upsertSubscriber,
  validateSubscriberInput,
} from './repository.ts';

export type SubscribeDecision =
  | { send: true; recipient: ConfirmationRecipient }
  | { send: false; why: 'already-active' | 'suppressed' | 'bounced-or-complained' };

/**
 * Handles a subscribe request (validated first: a bad field throws SubscriberInputError).
 * New addresses become pending; pending and unsubscribed ones get their preferences
 * refreshed; active ones are left alone; suppressed ones (other than by their own
 * unsubscribe) are never mailed again.
 */
export async function requestSubscription(
  db: Kysely<Database>,
  input: Omit<SubscriberInput, 'status'>,
  now: string = nowIso(),
): Promise<SubscribeDecision> {
  const valid = validateSubscriberInput(input, await topicIds(db));
  const suppression = await suppressionOf(db, valid.email);
  if (suppression !== null && suppression !== 'unsubscribe')
    return { send: false, why: 'suppressed' };
  const existing = await db
    .selectFrom('subscribers')
    .select(['id', 'status', 'name'])
    .where('email', '=', valid.email)
    .executeTakeFirst();
  if (!existing) {
    const { id } = await upsertSubscriber(db, { ...valid, status: 'pending' }, now);
    return {
      send: true,
      recipient: { subscriberId: id, email: valid.email, name: valid.name ?? null },
    };
  }
  if (existing.status === 'active') return { send: false, why: 'already-active' };
  if (existing.status === 'bounced' || existing.status === 'complained') {
    return { send: false, why: 'bounced-or-complained' };
  }
  const { email: _email, status: _status, ...changes } = valid;
  await updatePreferences(db, existing.id, changes, now);
  return {
    send: true,
    recipient: {
      subscriberId: existing.id,
      email: valid.email,
      name: valid.name !== undefined ? valid.name : existing.name,
    },
  };
}

export type ConfirmOutcome = 'confirmed' | 'already-active' | 'not-found' | 'refused';

/**
 * Activates the subscriber a valid confirm token names. Someone who had unsubscribed and asked
 * again comes back (their 'unsubscribe' suppression is lifted); bounced or complained
 * addresses are refused.
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
  if (before.status !== 'pending' && before.status !== 'unsubscribed') return 'refused';
  const reason = await suppressionOf(db, before.email);
  if (reason !== null && reason !== 'unsubscribe') return 'refused';
  if (reason === 'unsubscribe') await removeSuppression(db, before.email);
  await confirmSubscriber(db, subscriberId, now);
  await recordEvent(db, 'confirmed', { subscriberId }, now);
  await createWelcome(db, subscriberId, now);
  return 'confirmed';
}
