// The dashboard (/console) for every signed-in user: a placeholder until the dashboard page
// helper fills it (sending now, scheduled next, queue health, recent bounces).
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../../app.ts';
import { requireConsole } from '../guard.ts';
import { navFor } from '../nav.ts';
import { renderConsolePage } from '../render.ts';

export const dashboardPages: FastifyPluginAsync<{ app: App }> = async (fastify) => {
  fastify.get('/console', { onRequest: requireConsole() }, async (request, reply) =>
    renderConsolePage(request, reply, 'dashboard', {
      title: 'Dashboard',
      active: 'dashboard',
      shortcuts: navFor(request.consoleUser!.role).filter((item) => item.key !== 'dashboard'),
    }),
  );
};
