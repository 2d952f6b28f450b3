// Editor API for feeds: list, add, remove, poll now. Adding a feed that may reach private
// addresses is the admin's call: an editor key must not open the internal network.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { openQueues } from '../../delivery/queues.ts';
import { notFound } from '../../errors/index.ts';
import { feedInputSchema, listFeeds } from '../../feeds/repository.ts';
import { addAndScheduleFeed, pollNow, removeAndUnscheduleFeed } from '../../feeds/service.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';

const idParams = z.object({ id: z.coerce.number().int().positive() });

export async function feedRoutes(server: FastifyInstance, { app }: { app: App }): Promise<void> {
  const queues = openQueues(app);
  server.addHook('preHandler', requireRole(app.store.db, 'editor'));

  server.get('/api/feeds', async () => listFeeds(app.store.db, app.config.FEED_FAILING_AFTER));

  server.post('/api/feeds', async (request, reply) => {
    const input = parseOr400(feedInputSchema, request.body ?? {}, 'feed');
    if (input.allowPrivate && request.apiRole !== 'admin') {
      throw new HttpError(403, 'allowPrivate needs the admin role', [
        { field: 'allowPrivate', message: 'only an admin key may allow private addresses' },
      ]);
    }
    const feed = await addAndScheduleFeed(app, queues, {
      url: input.url,
      every: input.every,
      allowPrivate: input.allowPrivate,
      ...(input.name !== undefined ? { name: input.name } : {}),
    });
    return reply.status(201).send(feed);
  });

  server.delete('/api/feeds/:id', async (request) => {
    const { id } = parseOr400(idParams, request.params, 'feed id');
    await removeAndUnscheduleFeed(app, queues, id);
    return { id, removed: true };
  });

  server.post('/api/feeds/:id/poll', async (request) => {
    const { id } = parseOr400(idParams, request.params, 'feed id');
    const [report] = await pollNow(app, queues, [id]);
    if (!report || report.outcome === 'missing') throw notFound('id', `no feed ${id}`);
    return report;
  });

  server.post('/api/feeds/poll', async () => pollNow(app, queues));
}
