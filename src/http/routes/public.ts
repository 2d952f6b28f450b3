// Public pages: /subscribe, /confirm, /preferences, /unsubscribe (GET page; POST one-click per
// RFC 8058). Server-rendered HTML; every subscriber-specific page is reached by a signed token.
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { createTransport, type MailTransport } from '../../delivery/transport.ts';
import {
  openTrackingConsent,
  setOpenTrackingConsent,
  subscriberEngagement,
} from '../../engagement/store.ts';
import { subscriberDeliveries } from '../../ledger/reports.ts';
import {
  type ConfirmationRecipient,
  type OwnerNotice,
  sendConfirmation,
} from '../../subscribers/confirmation.ts';
import { eraseSubscriber, unsubscribe } from '../../subscribers/events.ts';
import { confirmSubscription, requestSubscription, resubscribe } from '../../subscribers/optin.ts';
import {
  confirmPage,
  DETECT_ZONE_JS,
  type FieldError,
  messagePage,
  preferencesPage,
  subscribePage,
  type TopicOption,
  unsubscribePage,
} from '../../subscribers/pages.ts';
import {
  digestFrequencies,
  getSubscriber,
  SubscriberInputError,
  updatePreferences,
} from '../../subscribers/repository.ts';
import { publicZones } from '../../subscribers/zones.ts';
import { signToken, type TokenPurpose } from '../../tokens/index.ts';
import { verifySubscriberToken } from '../../tokens/subject.ts';
import { isSameOrigin } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { mediaTypeOf } from '../hardening.ts';

/** Subscribe posts allowed per client per minute (on top of the site-wide public limit). */
const SUBSCRIBE_POSTS_PER_MINUTE = 10;
/** Confirmation or "manage" mails one address gets per day, however many forms name it. */
export const MAILS_PER_ADDRESS_PER_DAY = 3;
/** Such mails one client may cause per hour, whatever addresses it types. */
export const MAILS_PER_CLIENT_PER_HOUR = 5;
/** RFC 8058 multipart bodies are one short field: anything bigger is not one. */
const MULTIPART_BODY_LIMIT = 4 * 1024;
const MULTIPART_MAX_PARTS = 8;

const zones = publicZones();

const listOf = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]));

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const subscribeBody = z.object({
  email: z.string({ message: 'enter your email address, e.g. name@example.com' }),
  name: optionalText,
  topics: listOf,
  digest: z.enum(digestFrequencies, { message: 'must be off, daily or weekly' }).optional(),
  timezone: optionalText,
});

const preferencesBody = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('save'),
    name: z.string().optional(),
    topics: listOf,
    digest: z.enum(digestFrequencies, { message: 'must be off, daily or weekly' }).optional(),
    timezone: optionalText,
    send_hour: z.coerce.number().int().min(0).max(23).optional(),
    track_opens: z.literal('yes').optional(),
  }),
  z.object({ action: z.literal('unsubscribe-topic'), topic: z.string().min(1) }),
  z.object({ action: z.literal('unsubscribe-all') }),
  z.object({ action: z.literal('resubscribe') }),
  z.object({ action: z.literal('erase'), confirm_erase: z.literal('yes').optional() }),
]);

const tokenQuery = z.object({ token: z.string().min(1).max(512) });

/** Whether the request body is JSON, judged by its exact media type (not a substring). */
function wantsJson(request: FastifyRequest): boolean {
  return mediaTypeOf(request) === 'application/json';
}

function page(reply: FastifyReply, status: number, body: string): FastifyReply {
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

function firstError(error: unknown): FieldError[] {
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
function assertSameOrigin(request: FastifyRequest, publicUrl: string): void {
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

/**
 * Parses RFC 8058's multipart/form-data variant (bodies of at most 4 kB, a few parts): only
 * named text fields are kept. Linear scans, no backtracking regex over the body.
 */
function parseMultipartFields(body: string, contentType: string): Record<string, string> {
  const boundary = /boundary="?([^";]{1,70})"?/i.exec(contentType)?.[1];
  const fields: Record<string, string> = {};
  if (!boundary) return fields;
  const parts = body.split(`--${boundary}`, MULTIPART_MAX_PARTS + 2);
  for (const part of parts) {
    const split = part.indexOf('\r\n\r\n');
    const separator = split >= 0 ? split : part.indexOf('\n\n');
    if (separator < 0) continue;
    const headers = part.slice(0, separator);
    const name = /name="([^"]{1,100})"/.exec(headers)?.[1];
    if (!name) continue;
    const value = part.slice(separator + (split >= 0 ? 4 : 2));
    fields[name] = value.replace(/\r?\n$/, '');
  }
  return fields;
}

/** A counter key for an address: its hash (keys in Redis hold no address). */
function addressKey(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex');
}

export const publicRoutes: FastifyPluginAsync<{ app: App; transport?: MailTransport }> = async (
  fastify,
  options,
) => {
  const { app } = options;
  const { config } = app;
  const db = app.store.db;
  const log = app.logger.child({ component: 'public' });
  let transport = options.transport;
  const mail = () => {
    transport ??= createTransport(config);
    return transport;
  };
  fastify.addHook('onClose', async () => {
    if (!options.transport) transport?.close();
  });
  // Public routes take urlencoded and JSON; multipart only for the RFC 8058 one-click POST,
  // and then only a few kB of it.
  fastify.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'string' },
    (request, body, done) => {
      if (request.method !== 'POST' || request.url.split('?')[0] !== '/unsubscribe') {
        done(new HttpError(415, 'multipart bodies are accepted by POST /unsubscribe only'));
        return;
      }
      // The route's (public) body limit wins over a parser's own: check the smaller one here.
      if (String(body).length > MULTIPART_BODY_LIMIT) {
        done(new HttpError(413, `a one-click body is at most ${MULTIPART_BODY_LIMIT} bytes`));
        return;
      }
      done(null, parseMultipartFields(String(body), request.headers['content-type'] ?? ''));
    },
  );

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
  /** Whether one more mail to this address, caused by this client, is allowed (and counts it). */
  const mayMail = async (email: string, client: string): Promise<boolean> => {
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
  };

  const catalogue = async (): Promise<TopicOption[]> =>
    db.selectFrom('topics').select(['id', 'name', 'description']).orderBy('name').execute();

  /** Verifies the `token` query for one purpose, including its subscriber's key. */
  const verified = async (purpose: TokenPurpose, query: unknown) => {
    const parsed = tokenQuery.safeParse(query);
    if (!parsed.success) return { ok: false as const, reason: 'malformed' as const, token: '' };
    const result = await verifySubscriberToken(
      db,
      config.HERALD_SECRET,
      purpose,
      parsed.data.token,
    );
    return { ...result, token: parsed.data.token };
  };

  /** A signed token for one of a subscriber's own links, carrying their key. */
  const tokenFor = (purpose: TokenPurpose, subscriberId: number, subscriberKey?: string) =>
    signToken(config.HERALD_SECRET, purpose, { subscriberId, subscriberKey });

  const badLink = (reply: FastifyReply, reason: string) =>
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
        );

  /** Sends the owner's mail in the background: the answer must not reveal whether it went. */
  const confirmLater = (recipient: ConfirmationRecipient, kind: OwnerNotice) => {
    sendConfirmation(config, mail(), recipient, new Date(), kind).then(
      () =>
        log.info({ subscriberId: recipient.subscriberId, kind }, 'subscribers.confirmation.sent'),
      (error: unknown) =>
        log.error(
          { subscriberId: recipient.subscriberId, err: error },
          'subscribers.confirmation.failed',
        ),
    );
  };

  fastify.get('/subscribe.js', async (_request, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').send(DETECT_ZONE_JS),
  );

  fastify.get('/subscribe', async (_request, reply) =>
    page(reply, 200, subscribePage({ topics: await catalogue(), zones })),
  );

  fastify.post(
    '/subscribe',
    { config: { rateLimit: { max: SUBSCRIBE_POSTS_PER_MINUTE, timeWindow: 60_000 } } },
    async (request, reply) => {
      const json = wantsJson(request);
      if (!json) assertSameOrigin(request, config.PUBLIC_URL);
      const raw = (request.body ?? {}) as Record<string, unknown>;
      try {
        const body = subscribeBody.parse(raw);
        if (body.email.trim() === '') {
          throw new SubscriberInputError(
            'email',
            'enter your email address, e.g. name@example.com',
          );
        }
        const decision = await requestSubscription(db, body);
        if (!decision.send) log.info({ why: decision.why }, 'subscribers.subscribe.skipped');
        else if (await mayMail(decision.recipient.email, request.ip))
          confirmLater(decision.recipient, decision.kind);
        else log.info({ kind: decision.kind }, 'subscribers.subscribe.rate-limited');
      } catch (error) {
        const errors = firstError(error);
        if (json) throw new HttpError(400, 'invalid subscription', errors);
        // Keep what was typed and chosen, so fixing one field does not mean starting over.
        const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
        const chosen = Array.isArray(raw.topics) ? raw.topics : [raw.topics];
        const digest = digestFrequencies.find((d) => d === raw.digest);
        const values = {
          email: text(raw.email) ?? '',
          name: text(raw.name) ?? '',
          topics: chosen.filter((t): t is string => typeof t === 'string'),
          digest,
          timezone: text(raw.timezone),
        };
        return page(
          reply,
          400,
          subscribePage({ topics: await catalogue(), zones, values, errors }),
        );
      }
      const message =
        'If the address can receive our newsletter, a confirmation email is on its way. Open the link in it to start your subscription.';
      if (json) return reply.status(202).send({ status: 'check-your-inbox', message });
      return page(reply, 200, messagePage('Check your inbox', [message]));
    },
  );

  // GET (and HEAD) only show the button: mail scanners open links without a person.
  fastify.get('/confirm', async (request, reply) => {
    const token = await verified('confirm', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    return page(reply, 200, confirmPage(token.token));
  });

  fastify.post('/confirm', async (request, reply) => {
    const token = await verified('confirm', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    const subscriberId = token.claims.subscriberId;
    const outcome = await confirmSubscription(db, subscriberId);
    log.info({ subscriberId, outcome }, 'subscribers.confirm');
    if (outcome === 'not-found' || outcome === 'refused') {
      return page(
        reply,
        410,
        messagePage('This subscription cannot be confirmed', [
          'The address was removed or can no longer receive our emails.',
        ]),
      );
    }
    const preferences = tokenFor('preferences', subscriberId, token.claims.subscriberKey);
    return page(
      reply,
      200,
      messagePage(
        outcome === 'confirmed' ? 'You are subscribed' : 'You were already subscribed',
        ['Thank you. Your newsletters will arrive at the address you confirmed.'],
        [{ href: `/preferences?token=${preferences}`, text: 'Manage your preferences' }],
      ),
    );
  });

  const renderPreferences = async (
    reply: FastifyReply,
    subscriberId: number,
    subscriberKey: string | undefined,
    token: string,
    extra: { notice?: string; errors?: FieldError[]; status?: number } = {},
  ) => {
    const subscriber = await getSubscriber(db, subscriberId);
    if (!subscriber) {
      return page(
        reply,
        404,
        messagePage('Nothing here', ['We hold no subscription for this link any more.']),
      );
    }
    const unsubscribeToken = tokenFor('unsubscribe', subscriberId, subscriberKey);
    return page(
      reply,
      extra.status ?? 200,
      preferencesPage({
        subscriber,
        topics: await catalogue(),
        zones,
        token,
        unsubscribeUrl: `/unsubscribe?token=${unsubscribeToken}`,
        notice: extra.notice,
        errors: extra.errors,
        openTracking: config.TRACK_OPENS ? await openTrackingConsent(db, subscriberId) : undefined,
      }),
    );
  };

  fastify.get('/preferences', async (request, reply) => {
    const token = await verified('preferences', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    return renderPreferences(
      reply,
      token.claims.subscriberId,
      token.claims.subscriberKey,
      token.token,
    );
  });

  fastify.get('/preferences/data', async (request, reply) => {
    const token = await verified('preferences', request.query);
    if (!token.ok) throw new HttpError(400, 'invalid or expired link', { field: 'token' });
    const subscriberId = token.claims.subscriberId;
    const subscriber = await getSubscriber(db, subscriberId);
    if (!subscriber) throw new HttpError(404, 'no subscriber for this link');
    const [events, deliveries] = await Promise.all([
      db
        .selectFrom('events')
        .select(['type', 'campaign_id', 'detail', 'created_at'])
        .where('subscriber_id', '=', subscriberId)
        .orderBy('id')
        .execute(),
      subscriberDeliveries(db, subscriberId),
    ]);
    return reply
      .header('content-disposition', 'attachment; filename="herald-my-data.json"')
      .header('cache-control', 'no-store')
      .send({
        subscriber,
        events: events.map((e) => ({ ...e, detail: JSON.parse(e.detail) as unknown })),
        deliveries,
        engagement: await subscriberEngagement(db, subscriberId),
      });
  });

  fastify.post('/preferences', async (request, reply) => {
    const token = await verified('preferences', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    assertSameOrigin(request, config.PUBLIC_URL);
    const subscriberId = token.claims.subscriberId;
    const show = (extra: Parameters<typeof renderPreferences>[4]) =>
      renderPreferences(reply, subscriberId, token.claims.subscriberKey, token.token, extra);
    const parsed = preferencesBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      return show({
        status: 400,
        errors: firstError(parsed.error),
      });
    }
    const body = parsed.data;
    switch (body.action) {
      case 'save':
        // No topic means no newsletter and an empty digest: refuse rather than save "nothing".
        if ((body.topics ?? []).length === 0) {
          return show({
            status: 400,
            errors: [
              {
                field: 'topics',
                message:
                  'choose at least one topic: with none you would receive nothing. To stop all emails, use "Unsubscribe from all Herald emails" below.',
              },
            ],
          });
        }
        try {
          await updatePreferences(db, subscriberId, {
            name: body.name === undefined ? undefined : body.name.trim() || null,
            // A form with every box unticked sends no `topics` at all: that means none.
            topics: body.topics ?? [],
            digest: body.digest,
            timezone: body.timezone,
            sendHour: body.send_hour,
          });
          // The box is shown only while open tracking is on: otherwise the choice stays as is.
          if (config.TRACK_OPENS) {
            await setOpenTrackingConsent(db, subscriberId, body.track_opens === 'yes');
          }
        } catch (error) {
          return show({
            status: 400,
            errors: firstError(error),
          });
        }
        log.info({ subscriberId }, 'subscribers.preferences.saved');
        return show({
          notice: 'Your preferences are saved.',
        });
      case 'unsubscribe-topic':
        await unsubscribe(db, subscriberId, { topicId: body.topic });
        return show({
          notice: 'You no longer follow that topic.',
        });
      case 'resubscribe': {
        const outcome = await resubscribe(db, subscriberId);
        log.info({ subscriberId, outcome }, 'subscribers.resubscribe');
        if (outcome === 'refused') {
          return show({
            status: 409,
            errors: [{ field: 'form', message: 'this address cannot be subscribed again' }],
          });
        }
        return show({ notice: 'Welcome back: you are subscribed again.' });
      }
      case 'unsubscribe-all':
        await unsubscribe(db, subscriberId, {});
        log.info({ subscriberId }, 'subscribers.unsubscribed');
        return show({
          notice: 'You are unsubscribed from everything.',
        });
      case 'erase':
        if (body.confirm_erase !== 'yes') {
          return show({
            status: 400,
            errors: [{ field: 'confirm_erase', message: 'tick the box to confirm the deletion' }],
          });
        }
        await eraseSubscriber(db, subscriberId);
        log.info({ subscriberId }, 'subscribers.erased');
        return page(
          reply,
          200,
          messagePage('Your data is deleted', [
            'We deleted everything we held about you and will never email this address again.',
          ]),
        );
    }
  });

  fastify.get('/unsubscribe', async (request, reply) => {
    const token = await verified('unsubscribe', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    // A GET changes nothing: link scanners prefetch it.
    return page(reply, 200, unsubscribePage(token.token));
  });

  fastify.post('/unsubscribe', async (request, reply) => {
    const token = await verified('unsubscribe', request.query);
    if (!token.ok) return badLink(reply, token.reason);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body['List-Unsubscribe'] !== 'One-Click') {
      throw new HttpError(400, 'the body must be List-Unsubscribe=One-Click (RFC 8058)', {
        field: 'List-Unsubscribe',
      });
    }
    const { subscriberId, campaignId } = token.claims;
    await unsubscribe(db, subscriberId, { campaignId: campaignId ?? null });
    log.info({ subscriberId, campaignId }, 'subscribers.unsubscribed');
    // RFC 8058: answer 200, never a redirect.
    return page(
      reply,
      200,
      messagePage('You are unsubscribed', ['You will get no more emails from Herald.']),
    );
  });
};
