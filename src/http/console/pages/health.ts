// /console/health (ops): the readiness checks (Redis, the store, the mail transport's verify),
// each with how long it took and when it ran, and the workers each queue sees connected.
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../../app.ts';
import { runHealthChecks } from '../../../ops/checks.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { formatCount, formatDuration, formatInstant } from './ops-format.ts';

export const healthPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.get('/console/health', { onRequest: requireConsole('ops') }, async (request, reply) => {
    const report = await runHealthChecks(app, await app.transport(), await app.queues());
    return renderConsolePage(request, reply, 'health', {
      title: 'Health',
      active: 'health',
      ...report,
      formatCount,
      formatDuration,
      formatInstant,
    });
  });
};
