// Editor API for the topic catalogue as the console shows it: every topic with its followers,
// last article date and recent articles. (A topic's weekly trends are in engagement.ts.)
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { listTopics, topicListItemSchema } from '../../topics/list.ts';
import { requireRole } from '../auth.ts';

export const topicRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.get(
    '/api/topics',
    {
      preHandler: requireRole(app.store.db, 'editor'),
      schema: {
        summary: 'Topics with followers, last article date and 3 recent articles (editor)',
        response: { 200: z.object({ items: z.array(topicListItemSchema) }) },
      },
    },
    async () => listTopics(app.store.db),
  );
};
