// Admin API for console users: the paged list (never a password hash). Users are created and
// disabled with `herald users` and the console's users page.
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../app.ts';
import { listUserPage, userListItemSchema, userListQuerySchema } from '../../users/list.ts';
import { requireRole } from '../auth.ts';
import { parseOr400 } from '../errors.ts';
import { listPageSchema } from '../openapi.ts';

export const userRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.get(
    '/api/users',
    {
      preHandler: requireRole(app.store.db, 'admin'),
      schema: {
        summary: 'Console users, newest first; active ones unless disabled=true (admin)',
        querystring: userListQuerySchema,
        response: { 200: listPageSchema(userListItemSchema) },
      },
    },
    async (request) =>
      listUserPage(app.store.db, parseOr400(userListQuerySchema, request.query, 'query')),
  );
};
