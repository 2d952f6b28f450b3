// The ops listener on METRICS_PORT (loopback by default, off unless set): GET /metrics
// (Prometheus text, with per-campaign counts) and GET /readyz (each dependency with its
// failure reason). Kept off the public port: neither needs a key here, so neither may be
// reachable by whoever reaches the public pages.
import type { FastifyBaseLogger } from 'fastify';
import Fastify from 'fastify';
import type { App } from '../app.ts';
import { openQueues } from '../delivery/queues.ts';
import { createMailTransport } from '../mail/factory.ts';
import type { MailTransport } from '../mail/transport.ts';
import { createOpsMetrics } from './metrics.ts';
import { checkReadiness } from './readiness.ts';

export interface MetricsListener {
  port: number;
  host: string;
  stop(): Promise<void>;
}

/**
 * Starts the listener on METRICS_PORT/METRICS_HOST (or the given port, 0 for any free one);
 * returns null when METRICS_PORT is unset and no port is given.
 */
export async function startMetricsListener(
  app: App,
  options: { port?: number; host?: string } = {},
): Promise<MetricsListener | null> {
  const port = options.port ?? app.config.METRICS_PORT;
  if (port === undefined) return null;
  const host = options.host ?? app.config.METRICS_HOST;
  const server = Fastify({
    loggerInstance: app.logger.child(
      { component: 'metrics' },
      { level: 'warn' },
    ) as FastifyBaseLogger,
    // Scrapers send no body; anything larger is not for us.
    bodyLimit: 1024,
    requestTimeout: 10_000,
  });
  const queues = openQueues(app);
  const metrics = createOpsMetrics({
    db: app.store.db,
    queues,
    onError: (error, part) => app.logger.warn({ err: error, part }, 'ops.metrics.collect.failed'),
  });
  let transport: MailTransport | undefined;
  server.addHook('onClose', async () => transport?.close());

  server.get('/metrics', async (_request, reply) => {
    const text = await metrics.text();
    return reply.header('content-type', metrics.contentType).send(text);
  });
  server.get('/readyz', async (_request, reply) => {
    transport ??= createMailTransport(app.config);
    const report = await checkReadiness(app, transport);
    return reply.status(report.status === 'ok' ? 200 : 503).send(report);
  });

  await server.listen({ port, host });
  const address = server.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  app.logger.info({ port: bound, host }, 'metrics.listening');
  return { port: bound, host, stop: () => server.close() };
}
