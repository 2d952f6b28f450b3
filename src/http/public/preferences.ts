// GET /preferences (the subscriber's own page, reached by a signed link) and POST /preferences:
// save topics/digest/zone, drop one topic, unsubscribe from all, resubscribe, erase everything.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { openTrackingConsent, setOpenTrackingConsent } from '../../engagement/store.ts';
import { eraseSubscriber, unsubscribe } from '../../subscribers/events.ts';
import { resubscribe } from '../../subscribers/optin.ts';
import {
  digestFrequencies,
  getSubscriber,
  updatePreferences,
} from '../../subscribers/repository.ts';
import { type FieldError, messagePage, preferencesPage } from '../views/pages.ts';
import { assertSameOrigin, fieldErrors, type PublicContext, page, zones } from './context.ts';
import { listOf, optionalText } from './forms.ts';

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

export function preferencesRoutes(fastify: FastifyInstance, ctx: PublicContext): void {
  const { config, db, log } = ctx;

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
    const unsubscribeToken = ctx.tokenFor('unsubscribe', subscriberId, subscriberKey);
    return page(
      reply,
      extra.status ?? 200,
      preferencesPage({
        subscriber,
        topics: await ctx.catalogue(),
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
    const token = await ctx.verified('preferences', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
    return renderPreferences(
      reply,
      token.claims.subscriberId,
      token.claims.subscriberKey,
      token.token,
    );
  });

  fastify.post('/preferences', async (request, reply) => {
    const token = await ctx.verified('preferences', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
    assertSameOrigin(request, config.PUBLIC_URL);
    const subscriberId = token.claims.subscriberId;
    const show = (extra: Parameters<typeof renderPreferences>[4]) =>
      renderPreferences(reply, subscriberId, token.claims.subscriberKey, token.token, extra);
    const parsed = preferencesBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      return show({
        status: 400,
        errors: fieldErrors(parsed.error),
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
            errors: fieldErrors(error),
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
}
