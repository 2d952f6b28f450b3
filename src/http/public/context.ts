// What every public page needs: the HTML answer, the CSRF check, verified link tokens, the
// topic catalogue, and the mail limits of mails a stranger can cause. Built once per server by
// index.ts and handed to each page's routes.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { App } from '../../app.ts';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log/index.ts';
import type { MailTransport } from '../../mail/transport.ts';
import type { Database } from '../../store/schema.ts';
import {
  type ConfirmationRecipient,
  type OwnerNotice,
  sendConfirmation,
} from '../../subscribers/confirmation.ts';
import { SubscriberInputError } from '../../subscribers/repository.ts';
import { publicZones } from '../../subscribers/zones.ts';
import { signToken, type TokenPurpose } from '../../tokens/index.ts';
import { type SubjectResult, verifySubscriberToken } from '../../tokens/subject.ts';
import { isSameOrigin } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { mediaTypeOf } from '../hardening.ts';
import { type FieldError, messagePage, type TopicOption } from '../views/pages.ts';

/** Confirmation or "manage" mails one address gets per day, however many forms name it. */
export const MAILS_PER_ADDRESS_PER_DAY = 3;
/** Such mails one client may cause per hour, whatever addresses it types. */
export const MAILS_PER_CLIENT_PER_HOUR = 5;

/** The time zones the forms offer (computed once per process). */
export const zones = publicZones();

const tokenQuery = z.object({ token: z.string().min(1).max(512) });

/** Whether the request body is JSON, judged by its exact media type (not a substring). */
export function wantsJson(request: FastifyRequest): boolean {
  return mediaTypeOf(request) === 'application/json';
}

/** Answers with an HTML page that is never cached and keeps its token-bearing URL on the site. */
export function page(reply: FastifyReply, status: number, body: string): FastifyReply {
  return (
    reply
      .status(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // Token-bearing URLs never leave the site in a Referer; not no-referrer, with which browsers
      // post our own forms with `Origin: null` (and without Sec-Fetch-Site on plain http).
      .header('referrer-policy', 'same-origin')
      .send(body)
  );
}

/** The field errors a form shows for a subscriber input error or a zod failure; rethrows others. */
export function fieldErrors(error: unknown): FieldError[] {
  if (error instanceof SubscriberInputError) {
    // The page puts the field's label in front: drop the "field: " the message starts with.
    const prefix = `${error.field}: `;
    const message = error.message.startsWith(prefix)
      ? error.message.slice(prefix.length)
      : error.message;
    return [{ field: error.field, message }];
  }
  if (error instanceof z.ZodError) {
    return error.issues.map((i) => ({ field: String(i.path[0] ?? 'form'), message: i.message }));
  }
  throw error;
}

/** Fails a browser form post that comes from another site (CSRF); JSON clients pass. */
export function assertSameOrigin(request: FastifyRequest, publicUrl: string): void {
  if (isSameOrigin(request)) return;
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== '') {
    try {
      if (new URL(origin).origin === new URL(publicUrl).origin) return;
    } catch {
      // fall through to the refusal
    }
  }
  throw new HttpError(403, 'cross-origin form post refused', {
    field: 'origin',
    message: 'forms must be posted from this site',
  });
}

/** A counter key for an address: its hash (keys in Redis hold no address). */
function addressKey(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex');
}

/** The shared parts of the public pages, for one server. */
export interface PublicContext {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  /** The topics a subscriber may choose, by name. */
  catalogue(): Promise<TopicOption[]>;
  /** Verifies the `token` query for one purpose, including its subscriber's key. */
  verified(purpose: TokenPurpose, query: unknown): Promise<SubjectResult & { token: string }>;
  /** A signed token for one of a subscriber's own links, carrying their key. */
  tokenFor(purpose: TokenPurpose, subscriberId: number, subscriberKey?: string): string;
  /** The page for a link that is malformed, expired (400) or whose subscriber is gone (410). */
  badLink(reply: FastifyReply, reason: string): FastifyReply;
  /** Whether one more mail to this address, caused by this client, is allowed (and counts it). */
  mayMail(email: string, client: string): Promise<boolean>;
  /** Sends the owner's mail in the background: the answer must not reveal whether it went. */
  confirmLater(recipient: ConfirmationRecipient, kind: OwnerNotice): void;
}

/** Builds the public pages' context; `mail` opens (or returns) the transport on first use. */
export function publicContext(app: App, mail: () => MailTransport): PublicContext {
  const { config } = app;
  const db = app.store.db;
  const log = app.logger.child({ component: 'public' });

  // Mails a stranger can cause: per address (3 a day) and per client (5 an hour), in Redis
  // so every api process counts together.
  let limiters: { address: RateLimiterRedis; client: RateLimiterRedis } | undefined;
  const mailLimiters = () => {
    limiters ??= {
      address: new RateLimiterRedis({
        storeClient: app.redis(),
        keyPrefix: `${config.QUEUE_PREFIX}:rl:mail-address`,
        points: MAILS_PER_ADDRESS_PER_DAY,
        duration: 24 * 3600,
      }),
      client: new RateLimiterRedis({
        storeClient: app.redis(),
        keyPrefix: `${config.QUEUE_PREFIX}:rl:mail-client`,
        points: MAILS_PER_CLIENT_PER_HOUR,
        duration: 3600,
      }),
    };
    return limiters;
  };

  return {
    config,
    db,
    log,
    catalogue: async () =>
      db.selectFrom('topics').select(['id', 'name', 'description']).orderBy('name').execute(),
    verified: async (purpose, query) => {
      const parsed = tokenQuery.safeParse(query);
      if (!parsed.success) return { ok: false, reason: 'malformed', token: '' };
      const result = await verifySubscriberToken(
        db,
        config.HERALD_SECRET,
        purpose,
        parsed.data.token,
      );
      return { ...result, token: parsed.data.token };
    },
    tokenFor: (purpose, subscriberId, subscriberKey) =>
      signToken(config.HERALD_SECRET, purpose, { subscriberId, subscriberKey }),
    badLink: (reply, reason) =>
      reason === 'gone'
        ? page(
            reply,
            410,
            messagePage('Nothing here', ['We hold no subscription for this link any more.']),
          )
        : page(
            reply,
            400,
            messagePage(
              reason === 'expired' ? 'This link has expired' : 'This link is not valid',
              reason === 'expired'
                ? ['The link is too old. Subscribe again and we will send you a fresh one.']
                : ['The link is incomplete or was altered. Copy the whole link from the email.'],
              [{ href: '/subscribe', text: 'Go to the subscribe page' }],
            ),
          ),
    mayMail: async (email, client) => {
      const { address, client: perClient } = mailLimiters();
      try {
        await perClient.consume(client, 1);
        await address.consume(addressKey(email), 1);
        return true;
      } catch (error) {
        // Over a limit, or Redis unreachable: send nothing rather than flood (the answer is the
        // same either way).
        if (!(error instanceof RateLimiterRes))
          log.warn({ err: error }, 'subscribers.mail.limit.error');
        return false;
      }
    },
    confirmLater: (recipient, kind) => {
      sendConfirmation(config, mail(), recipient, new Date(), kind).then(
        () =>
          log.info({ subscriberId: recipient.subscriberId, kind }, 'subscribers.confirmation.sent'),
        (error: unknown) =>
          log.error(
            { subscriberId: recipient.subscriberId, err: error },
            'subscribers.confirmation.failed',
          ),
      );
    },
  };
}
