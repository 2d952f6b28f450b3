// GET /healthz: 200 when Redis and the store answer, 503 naming which does not (the reasons
// are for /readyz, which ops reach with a key or on the metrics listener).
import type { FastifyPluginAsync } from 'fastify';
import type { App } from '../../app.ts';
import { checkHealth, publicHealth } from '../../ops/health.ts';

export const healthRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  fastify.get('/healthz', async (_request, reply) => {
    const report = await checkHealth(app);
    return reply.status(report.status === 'ok' ? 200 : 503).send(publicHealth(report));
  });
};
