// The newsroom console (issue 14): server-rendered pages (@fastify/view + eta, autoEscape on)
// enhanced with htmx, under a strict CSP (script-src 'self', no inline script, no eval).
// Registers the assets, sign-in, the 403 page, and each page family from
// ./pages (page helpers add one register line each, below).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app.ts';
import { CONSOLE_COOKIE, cookieOf } from '../auth.ts';
import { assetRoutes } from './assets.ts';
import { loginRoutes } from './login.ts';
import { apiReferencePages } from './pages/api-reference.ts';
import { articlePages } from './pages/articles.ts';
import { campaignPages } from './pages/campaigns.ts';
import { dashboardPages } from './pages/dashboard.ts';
import { digestPages } from './pages/digests.ts';
import { healthPages } from './pages/health.ts';
import { keyPages } from './pages/keys.ts';
import { outboxPages } from './pages/outbox.ts';
import { queuePages } from './pages/queues.ts';
import { subscriberPages } from './pages/subscribers.ts';
import { suppressionPages } from './pages/suppressions.ts';
import { topicPages } from './pages/topics.ts';
import { usersPages } from './pages/users.ts';
import { renderConsolePage } from './render.ts';

export const consoleRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.consoleAuth.renderForbidden = async (
    request: FastifyRequest,
    reply: FastifyReply,
    message: string,
  ) => {
    reply.status(403);
    if (!request.consoleUser) return reply.type('text/plain; charset=utf-8').send(message);
    return renderConsolePage(request, reply, 'forbidden', {
      title: 'Not available',
      active: null,
      message,
    });
  };
  await fastify.register(assetRoutes);
  await fastify.register(loginRoutes, { app });
  // `/` is the console for a signed-in user, the sign-in page otherwise.
  fastify.get('/', async (request, reply) => {
    const sessionId = cookieOf(request, CONSOLE_COOKIE);
    const session = sessionId ? await fastify.consoleAuth.sessions.read(sessionId) : null;
    return reply.redirect(session ? '/console' : '/console/login', 303);
  });
  // Page families: one line each.
  await fastify.register(dashboardPages, { app });
  await fastify.register(campaignPages, { app });
  await fastify.register(queuePages, { app });
  await fastify.register(outboxPages, { app });
  await fastify.register(suppressionPages, { app });
  await fastify.register(healthPages, { app });
  await fastify.register(keyPages, { app });
  await fastify.register(subscriberPages, { app });
  await fastify.register(digestPages, { app });
  await fastify.register(apiReferencePages, { app });
  await fastify.register(articlePages, { app });
  await fastify.register(topicPages, { app });
  await fastify.register(usersPages, { app });
};
