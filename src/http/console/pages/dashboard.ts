// The dashboard (/console) for every signed-in user. Editors (and admins) see the campaigns
// sending now with live progress and what is scheduled next; ops (and admins) see queue health;
// everyone sees recent bounces and complaints. The live parts are partials htmx polls every
// 2 s (/console/dashboard/sending, /console/dashboard/queues), each guarded by its own role.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../../app.ts';
import { queueHealth, recentBounces, scheduledNext, sendingNow } from '../../../ops/dashboard.ts';
import { type Role, requireConsole, roleAllows } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { formatCount, formatDuration, formatInstant } from './ops-format.ts';

/** Who sees which dashboard part (admin passes every check). */
export const DASHBOARD_PARTS = {
  campaigns: ['editor'],
  queues: ['ops'],
  bounces: [],
} as const satisfies Record<string, readonly Role[]>;

const helpers = { formatCount, formatDuration, formatInstant };

async function sendPartial(
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown>,
): Promise<FastifyReply> {
  const html = await reply.consoleViewAsync(`${view}.eta`, { ...data, ...helpers });
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

export const dashboardPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const sendingData = async () => ({ sending: await sendingNow(app, new Date()) });
  const queuesData = async () => queueHealth(await app.queues());

  fastify.get('/console', { onRequest: requireConsole() }, async (request, reply) => {
    const role = request.consoleUser!.role;
    const sees = (part: keyof typeof DASHBOARD_PARTS) => roleAllows(role, DASHBOARD_PARTS[part]);
    const [sending, scheduled, queues, bounces] = await Promise.all([
      sees('campaigns') ? sendingNow(app, new Date()) : null,
      sees('campaigns') ? scheduledNext(app) : null,
      sees('queues') ? queuesData() : null,
      recentBounces(app),
    ]);
    return renderConsolePage(request, reply, 'dashboard', {
      title: 'Dashboard',
      active: 'dashboard',
      sending,
      scheduled,
      queueHealth: queues,
      bounces,
      ...helpers,
    });
  });

  const partial =
    (view: string, load: () => Promise<Record<string, unknown>>) =>
    async (_request: FastifyRequest, reply: FastifyReply) =>
      sendPartial(reply, view, await load());
  fastify.get(
    '/console/dashboard/sending',
    { onRequest: requireConsole(...DASHBOARD_PARTS.campaigns) },
    partial('dashboard-sending', sendingData),
  );
  fastify.get(
    '/console/dashboard/queues',
    { onRequest: requireConsole(...DASHBOARD_PARTS.queues) },
    partial('dashboard-queues', async () => ({ ...(await queuesData()) })),
  );
};
