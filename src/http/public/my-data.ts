// GET /preferences/data: everything Herald holds about the subscriber the link names, as a JSON
// download (their right of access), reached from the preferences page.
import type { FastifyInstance } from 'fastify';
import { subscriberEngagement } from '../../engagement/store.ts';
import { subscriberDeliveries } from '../../ledger/reports.ts';
import { getSubscriber } from '../../subscribers/repository.ts';
import { HttpError } from '../errors.ts';
import type { PublicContext } from './context.ts';

export function myDataRoutes(fastify: FastifyInstance, ctx: PublicContext): void {
  const { db } = ctx;

  fastify.get('/preferences/data', async (request, reply) => {
    const token = await ctx.verified('preferences', request.query);
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
}
