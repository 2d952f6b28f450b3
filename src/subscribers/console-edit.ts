// An editor's change to one subscriber from the console: name, topics, digest, zone and status,
// checked as a whole first (every bad field named, nothing written), then applied through the
// repository (upsertSubscriber) and the unsubscribe event (events.ts).
//
// Status rules (consent is the subscriber's, not the editor's):
// - active or pending → unsubscribed: allowed; it is the same unsubscribe a subscriber's own
//   click makes (status, 'unsubscribe' suppression, event).
// - pending → active: allowed when the address is not suppressed (the editor vouches for the
//   consent, as an import without --pending does).
// - unsubscribed, bounced or complained → active, or any address on the suppression list → active:
//   refused with the reason. Only the subscriber can come back (the subscribe page's double
//   opt-in), and a bounce or complaint suppression is lifted by an admin first.
// - Any other move (e.g. bounced → unsubscribed) is refused; keeping the current status is fine.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { nowIso } from '../store/db.ts';
import type { Database, SubscriberStatus } from '../store/schema.ts';
import { unsubscribe } from './events.ts';
import {
  canonicalTimeZone,
  digestFrequencies,
  getSubscriber,
  type Subscriber,
  SubscriberInputError,
  subscriberStatuses,
  topicIds,
  upsertSubscriber,
} from './repository.ts';
import { suppressionOf } from './suppressions.ts';

const oneOrMany = z
  .union([z.string().max(100), z.array(z.string().max(100)).max(500)])
  .optional()
  .transform((value) =>
    value === undefined ? [] : (Array.isArray(value) ? value : [value]).filter((t) => t !== ''),
  );

/** The edit form as posted (urlencoded): topics is one value per ticked box. */
export const subscriberEditFormSchema = z.object({
  name: z.string().trim().max(200, 'must be at most 200 characters').default(''),
  topics: oneOrMany,
  digest: z.enum(digestFrequencies, { message: 'choose off, daily or weekly' }),
  timezone: z
    .string({ message: 'give a time zone' })
    .trim()
    .min(1, 'give a time zone, e.g. Europe/Berlin')
    .max(64, 'is not a time zone (too long)'),
  status: z.enum(subscriberStatuses, { message: 'choose active or unsubscribed' }),
});

/** What the form shows back: the user's own values. */
export interface SubscriberEditValues {
  name: string;
  topics: string[];
  digest: string;
  timezone: string;
  status: string;
}

export type SubscriberEditResult =
  | { outcome: 'saved'; subscriber: Subscriber; changes: string[] }
  | { outcome: 'not-found' }
  | { outcome: 'invalid'; errors: Record<string, string>; values: SubscriberEditValues };

function valuesOf(body: unknown, current: Subscriber): SubscriberEditValues {
  const raw = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const text = (value: unknown, fallback: string) =>
    typeof value === 'string' ? value.slice(0, 300) : fallback;
  const topics = raw.topics;
  return {
    name: text(raw.name, ''),
    topics: (Array.isArray(topics) ? topics : typeof topics === 'string' ? [topics] : [])
      .filter((t): t is string => typeof t === 'string')
      .slice(0, 500),
    digest: text(raw.digest, current.digest),
    timezone: text(raw.timezone, current.timezone),
    status: text(raw.status, current.status),
  };
}

/** Why a move from `from` to `to` is refused, or null when it is allowed. */
async function statusRefusal(
  db: Kysely<Database>,
  current: Subscriber,
  to: SubscriberStatus,
): Promise<string | null> {
  const from = current.status;
  if (to === from) return null;
  if (to === 'unsubscribed') {
    return from === 'active' || from === 'pending'
      ? null
      : `a ${from} subscriber stays ${from}: there is nothing to unsubscribe`;
  }
  if (to !== 'active') return 'choose active or unsubscribed';
  const suppression = await suppressionOf(db, current.email);
  if (from === 'unsubscribed') {
    return 'this subscriber unsubscribed: only they can subscribe again (the subscribe page sends them a confirmation)';
  }
  if (from === 'bounced' || from === 'complained') {
    return `this address ${from === 'bounced' ? 'bounced' : 'complained'} and is suppressed: an admin must lift the suppression, then the subscriber subscribes again`;
  }
  if (suppression !== null) {
    return `this address is on the suppression list (${suppression}): it cannot be made active`;
  }
  return null;
}

/**
 * Applies the console's edit form to subscriber `id`. Bad input changes nothing and names
 * every bad field; `changes` lists what was written (for the log and the notice).
 */
export async function editSubscriber(
  db: Kysely<Database>,
  id: number,
  body: unknown,
  now: string = nowIso(),
): Promise<SubscriberEditResult> {
  const current = await getSubscriber(db, id);
  if (!current) return { outcome: 'not-found' };
  const errors: Record<string, string> = {};
  const parsed = subscriberEditFormSchema.safeParse(body ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? 'form');
      errors[field] ??= issue.message;
    }
  }
  const form = parsed.success ? parsed.data : null;
  // Every field is checked even when another one failed, so each message shows at once.
  const raw = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const zoneText = form?.timezone ?? (typeof raw.timezone === 'string' ? raw.timezone.trim() : '');
  let zone: string | null = null;
  if (zoneText !== '' && zoneText.length <= 64) {
    zone = canonicalTimeZone(zoneText);
    if (!zone) {
      errors.timezone = `"${zoneText}" is not an IANA time zone (e.g. Europe/Berlin, America/New_York)`;
    }
  }
  const topicsWanted = form?.topics ?? valuesOf(body, current).topics;
  const known = await topicIds(db);
  const unknown = topicsWanted.find((topic) => !known.has(topic));
  if (unknown !== undefined) errors.topics = `"${unknown.slice(0, 100)}" is not a topic`;
  if (form) {
    const refusal = await statusRefusal(db, current, form.status);
    if (refusal) errors.status = refusal;
  }
  if (!form || !zone || Object.keys(errors).length > 0) {
    return { outcome: 'invalid', errors, values: valuesOf(body, current) };
  }
  const topics = [...new Set(form.topics)].sort();
  const changes: string[] = [];
  if ((current.name ?? '') !== form.name) changes.push('name');
  if (topics.join(';') !== [...current.topics].sort().join(';')) changes.push('topics');
  if (current.digest !== form.digest) changes.push('digest');
  if (current.timezone !== zone) changes.push('timezone');
  if (current.status !== form.status) changes.push('status');
  try {
    await upsertSubscriber(
      db,
      {
        email: current.email,
        name: form.name,
        topics,
        digest: form.digest,
        timezone: zone,
        // pending → active only; upsertSubscriber moves no other status.
        ...(form.status === 'active' && current.status === 'pending'
          ? { status: 'active' as const }
          : {}),
      },
      now,
    );
  } catch (error) {
    if (error instanceof SubscriberInputError) {
      return {
        outcome: 'invalid',
        errors: { [error.field]: error.message.replace(/^[a-z]+: /, '') },
        values: valuesOf(body, current),
      };
    }
    throw error;
  }
  if (form.status === 'unsubscribed' && current.status !== 'unsubscribed') {
    await unsubscribe(db, id, { now });
  }
  const saved = await getSubscriber(db, id);
  if (!saved) return { outcome: 'not-found' };
  return { outcome: 'saved', subscriber: saved, changes };
}
