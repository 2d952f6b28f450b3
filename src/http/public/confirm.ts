// GET /confirm shows a button; POST /confirm (the button) confirms the subscription. A GET
// (or HEAD) changes nothing: mail scanners open links without a person.
import type { FastifyInstance } from 'fastify';
import { confirmSubscription } from '../../subscribers/optin.ts';
import { confirmPage, messagePage } from '../views/pages.ts';
import { type PublicContext, page } from './context.ts';

export function confirmRoutes(fastify: FastifyInstance, ctx: PublicContext): void {
  const { db, log } = ctx;

  fastify.get('/confirm', async (request, reply) => {
    const token = await ctx.verified('confirm', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
    return page(reply, 200, confirmPage(token.token));
  });

  fastify.post('/confirm', async (request, reply) => {
    const token = await ctx.verified('confirm', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
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
    const preferences = ctx.tokenFor('preferences', subscriberId, token.claims.subscriberKey);
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
}
