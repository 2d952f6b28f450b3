// Builds the Fastify server: one plugin per route family, each bringing its own schemas.
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { App } from '../app.ts';
import { installErrorHandler } from './errors.ts';
import { hardening } from './hardening.ts';
import { alertRoutes } from './routes/alerts.ts';
import { articleRoutes } from './routes/articles.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { feedRoutes } from './routes/feeds.ts';
import { healthRoutes } from './routes/health.ts';
import { opsRoutes } from './routes/ops.ts';
import { publicRoutes } from './routes/public.ts';
import { subscriberRoutes } from './routes/subscribers.ts';

/** Creates the HTTP server with every route family registered (not yet listening). */
export async function buildServer(app: App): Promise<FastifyInstance> {
  const server = Fastify({
    // Request lines (info) carry token-bearing URLs: log only warnings and errors.
    loggerInstance: app.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    trustProxy: true,
  });
  installErrorHandler(server);
  // First: its onRoute hook (body limits, route inventory) must see every route after it.
  await server.register(hardening, { app });
  await server.register(formbody);
  await server.register(healthRoutes, { app });
  await server.register(opsRoutes, { app });
  await server.register(articleRoutes, { app });
  await server.register(campaignRoutes, { app });
  await server.register(publicRoutes, { app });
  await server.register(subscriberRoutes, { app });
  await server.register(feedRoutes, { app });
  await server.register(alertRoutes, { app });
  return server;
}
