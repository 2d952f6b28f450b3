// Builds the Fastify server: one plugin per route family, each bringing its own schemas.
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { App } from '../app.ts';
import { consoleAuth } from './console/guard.ts';
import { consoleRoutes } from './console/plugin.ts';
import { installErrorHandler } from './errors.ts';
import { hardening } from './hardening.ts';
import { installSchemaCompilers, openApi } from './openapi.ts';
import { publicRoutes } from './public/index.ts';
import { alertRoutes } from './routes/alerts.ts';
import { archiveRoutes } from './routes/archive.ts';
import { articleRoutes } from './routes/articles.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { engagementRoutes } from './routes/engagement.ts';
import { feedRoutes } from './routes/feeds.ts';
import { healthRoutes } from './routes/health.ts';
import { keyRoutes } from './routes/keys.ts';
import { opsRoutes } from './routes/ops.ts';
import { subscriberRoutes } from './routes/subscribers.ts';
import { topicRoutes } from './routes/topics.ts';
import { userRoutes } from './routes/users.ts';

/** A request must arrive whole within this (slowloris bodies). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Its headers must arrive within this (slowloris headers); at most REQUEST_TIMEOUT_MS. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A socket idle this long is closed. */
export const CONNECTION_TIMEOUT_MS = 60_000;
/** An idle keep-alive connection is closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Connections served at once; beyond it new ones are dropped, not queued without bound. */
export const MAX_CONNECTIONS = 1_000;

/** Creates the HTTP server with every route family registered (not yet listening). */
export async function buildServer(app: App): Promise<FastifyInstance> {
  const server = Fastify({
    // Request lines (info) carry token-bearing URLs: log only warnings and errors.
    loggerInstance: app.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    // Forwarded headers only from the proxies named in TRUST_PROXY: anyone else could pick
    // their own address and with it their rate-limit key.
    trustProxy: app.config.TRUST_PROXY.length > 0 ? app.config.TRUST_PROXY : false,
    // Slow clients must not hold the server: whole request, idle socket, keep-alive.
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  });
  server.server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.server.maxConnections = MAX_CONNECTIONS;
  installErrorHandler(server);
  installSchemaCompilers(server);
  // First: its onRoute hook (body limits, route inventory) must see every route after it.
  await server.register(hardening, { app });
  // Next: it documents every route registered after it (GET /api/openapi.json).
  await server.register(openApi, { app });
  await server.register(formbody);
  await server.register(healthRoutes, { app });
  // Before every route family that signs browsers in: the session guard's CSRF check is a
  // root hook, and the guard finds the sessions through this decoration.
  await server.register(consoleAuth, { app });
  await server.register(consoleRoutes, { app });
  await server.register(opsRoutes, { app });
  await server.register(articleRoutes, { app });
  await server.register(campaignRoutes, { app });
  await server.register(publicRoutes, { app });
  await server.register(subscriberRoutes, { app });
  await server.register(feedRoutes, { app });
  await server.register(alertRoutes, { app });
  await server.register(engagementRoutes, { app });
  await server.register(archiveRoutes, { app });
  await server.register(topicRoutes, { app });
  await server.register(keyRoutes, { app });
  await server.register(userRoutes, { app });
  return server;
}
