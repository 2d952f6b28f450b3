// Admin API for API keys: the paged list (never a key nor its hash). Keys are created and
// revoked with `herald keys create|revoke` (and, once it lands, the console's keys page).
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../app.ts';
import { keyListItemSchema, keyListQuerySchema, listKeys } from '../../keys/list.ts';
import { requireRole } from '../auth.ts';
import { parseOr400 } from '../errors.ts';
import { listPageSchema } from '../openapi.ts';

export const keyRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.get(
    '/api/keys',
    {
      preHandler: requireRole(app.store.db, 'admin'),
      schema: {
        summary: 'API keys, newest first; live ones unless revoked=true (admin)',
        querystring: keyListQuerySchema,
        response: { 200: listPageSchema(keyListItemSchema) },
      },
    },
    async (request) =>
      listKeys(app.store.db, parseOr400(keyListQuerySchema, request.query, 'query')),
  );
};
