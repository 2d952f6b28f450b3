// Bounce and complaint events as an ESP reports them in JSON (the `POST /api/events/bounce`
// webhook, and `herald bounces apply FILE.json` for the same events saved to a file): the event
// shape, how an event is classified, and applying a list of them.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../log/index.ts';
import type { Database } from '../store/schema.ts';
import { resolveTokens } from './bounces.ts';
import { applyBounce, type BounceKind, type BounceOutcome } from './events.ts';

/** One ESP event: the VERP token (or the whole bounce address) names the recipient. */
/** Largest event file `herald bounces apply` reads: the API's body limit for the same events. */
export const MAX_EVENTS_FILE_BYTES = 2 * 1024 * 1024;

export const bounceEventSchema = z
  .object({
    type: z.enum(['bounce', 'complaint']),
    /** hard/permanent → hard; soft/transient → soft. */
    bounceType: z.enum(['hard', 'soft', 'permanent', 'transient']).optional(),
    token: z.string().min(1).optional(),
    /** The envelope sender the message went out with: bounces+TOKEN@domain. */
    returnPath: z.string().min(1).optional(),
    status: z.string().max(100).optional(),
    diagnostic: z.string().max(1000).optional(),
  })
  .refine((e) => e.token !== undefined || e.returnPath !== undefined, {
    message: 'token or returnPath is required',
    path: ['token'],
  })
  .refine((e) => e.type === 'complaint' || e.bounceType !== undefined || e.status !== undefined, {
    message: 'a bounce needs bounceType or an enhanced status code',
    path: ['bounceType'],
  });
export type BounceEvent = z.infer<typeof bounceEventSchema>;

/** One event or a list of up to 1,000. */
export const bounceEventsSchema = z.union([
  bounceEventSchema,
  z.array(bounceEventSchema).min(1).max(1000),
]);

/**
 * What an event means for the address: a complaint; a bounce typed hard/permanent or
 * soft/transient; else by its enhanced status (5.x.x hard, anything else soft).
 */
export function classifyBounceEvent(event: BounceEvent): BounceKind {
  if (event.type === 'complaint') return 'complaint';
  if (event.bounceType === 'hard' || event.bounceType === 'permanent') return 'hard';
  if (event.bounceType === 'soft' || event.bounceType === 'transient') return 'soft';
  return event.status?.trim().startsWith('5') ? 'hard' : 'soft';
}

/** The token an event names: its own, or the one in its VERP return path ('' when none). */
export function eventToken(event: BounceEvent): string {
  return event.token ?? /bounces\+([^@]+)@/i.exec(event.returnPath ?? '')?.[1] ?? '';
}

export type BounceEventResult =
  | {
      ok: true;
      subscriberId: number;
      campaignId: number | null;
      kind: BounceKind;
      outcome: BounceOutcome;
    }
  | { ok: false; reason: string };

/** Applies each event to the subscriber its token names; an unverifiable token is skipped. */
export async function applyBounceEvents(
  db: Kysely<Database>,
  options: {
    secret: string;
    log: Logger;
    softBounceLimit?: number;
    softBounceWindowDays?: number;
  },
  events: readonly BounceEvent[],
): Promise<BounceEventResult[]> {
  const results: BounceEventResult[] = [];
  for (const event of events) {
    const who = await resolveTokens(db, options.secret, [eventToken(event)], []);
    if (!who) {
      results.push({ ok: false, reason: 'token does not verify' });
      continue;
    }
    const kind = classifyBounceEvent(event);
    const outcome = await applyBounce(db, {
      ...who,
      kind,
      reply: [event.status, event.diagnostic].filter(Boolean).join(' ') || event.type,
      softBounceLimit: options.softBounceLimit,
      softBounceWindowDays: options.softBounceWindowDays,
    });
    options.log.info({ ...who, kind, outcome }, 'bounces.webhook.applied');
    results.push({ ok: true, ...who, kind, outcome });
  }
  return results;
}
