// GET /subscribe (the form, and /subscribe.js for its time-zone detection) and POST /subscribe
// (a browser form or JSON): double opt-in, so the answer never says whether a mail went.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { requestSubscription } from '../../subscribers/optin.ts';
import { digestFrequencies, SubscriberInputError } from '../../subscribers/repository.ts';
import { HttpError } from '../errors.ts';
import { DETECT_ZONE_JS, messagePage, subscribePage } from '../views/pages.ts';
import {
  assertSameOrigin,
  fieldErrors,
  type PublicContext,
  page,
  wantsJson,
  zones,
} from './context.ts';
import { listOf, optionalText } from './forms.ts';

/** Subscribe posts allowed per client per minute (on top of the site-wide public limit). */
const SUBSCRIBE_POSTS_PER_MINUTE = 10;

const subscribeBody = z.object({
  email: z.string({ message: 'enter your email address, e.g. name@example.com' }),
  name: optionalText,
  topics: listOf,
  digest: z.enum(digestFrequencies, { message: 'must be off, daily or weekly' }).optional(),
  timezone: optionalText,
});

export function subscribeRoutes(fastify: FastifyInstance, ctx: PublicContext): void {
  const { config, db, log } = ctx;

  fastify.get('/subscribe.js', async (_request, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').send(DETECT_ZONE_JS),
  );

  fastify.get('/subscribe', async (_request, reply) =>
    page(reply, 200, subscribePage({ topics: await ctx.catalogue(), zones })),
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
        else if (await ctx.mayMail(decision.recipient.email, request.ip))
          ctx.confirmLater(decision.recipient, decision.kind);
        else log.info({ kind: decision.kind }, 'subscribers.subscribe.rate-limited');
      } catch (error) {
        const errors = fieldErrors(error);
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
          subscribePage({ topics: await ctx.catalogue(), zones, values, errors }),
        );
      }
      const message =
        'If the address can receive our newsletter, a confirmation email is on its way. Open the link in it to start your subscription.';
      if (json) return reply.status(202).send({ status: 'check-your-inbox', message });
      return page(reply, 200, messagePage('Check your inbox', [message]));
    },
  );
}
