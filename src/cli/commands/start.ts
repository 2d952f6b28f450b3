// `herald start` (api + workers), `herald serve` (api alone).
import type { Command } from 'commander';
import { startWorkers, WORKER_NAMES, type WorkerName } from '../../../workers/index.ts';
import { type App, createApp, requireRedis } from '../../app.ts';
import { type Config, loadConfig, requireSecret } from '../../config/index.ts';
import { runUntilSignal, type Service } from '../../process/lifecycle.ts';
import { UserError } from '../context.ts';

/** The config of a long-running server: refuses to go on without a HERALD_SECRET. */
function serverConfig(): Config {
  const config = loadConfig();
  requireSecret(config);
  return config;
}

// The HTTP server, the bounce listener and the metrics listener load only when started: a
// `herald worker` process does not hold Fastify, the admin pages or an SMTP server in memory.

/** Starts the HTTP server on PORT; returns it as a stoppable service. */
export async function startHttp(app: App): Promise<Service & { port: number }> {
  const { buildServer } = await import('../../http/server.ts');
  const server = await buildServer(app);
  await server.listen({ port: app.config.PORT, host: app.config.HOST });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : app.config.PORT;
  app.logger.info({ port }, 'http.listening');
  process.stderr.write(`herald: listening on http://${app.config.HOST}:${port}\n`);
  return { name: 'http', port, stop: () => server.close() };
}

/** Starts the inbound SMTP listener for VERP bounces when BOUNCE_SMTP_PORT is set. */
async function startBounces(app: App): Promise<Service[]> {
  if (app.config.BOUNCE_SMTP_PORT === undefined) return [];
  requireSecret(app.config);
  const { startBounceListener } = await import('../../subscribers/listener.ts');
  const listener = await startBounceListener(app);
  process.stderr.write(`herald: bounce listener on port ${listener.port}\n`);
  return [{ name: 'bounces', stop: () => listener.stop() }];
}

/** Starts the loopback /metrics and /readyz listener when METRICS_PORT is set. */
async function startMetrics(app: App): Promise<Service[]> {
  if (app.config.METRICS_PORT === undefined) return [];
  const { startMetricsListener } = await import('../../ops/metrics-listener.ts');
  const listener = await startMetricsListener(app);
  if (!listener) return [];
  process.stderr.write(`herald: metrics on http://${listener.host}:${listener.port}/metrics\n`);
  return [{ name: 'metrics', stop: () => listener.stop() }];
}

/**
 * Ends the process once every service has stopped: a library's idle handle (a connection it
 * was handed, a timer) must not keep a stopped process alive.
 */
function exitAfterStop(): void {
  setImmediate(() => process.exit(process.exitCode ?? 0));
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP api alone')
    .action(async () => {
      const app = await createApp(serverConfig());
      const http = await startHttp(app);
      const metrics = await startMetrics(app);
      await runUntilSignal(app, [http, ...metrics]);
      exitAfterStop();
    });

  program
    .command('start')
    .description(
      'run the api and all workers (deliveries in DELIVERY_PROCESSES processes, default one per core)',
    )
    .action(async () => {
      const app = await createApp(serverConfig());
      // Without Redis nothing is sent: say so at once, naming REDIS_URL, and keep serving
      // (/healthz answers 503 with the reason; workers resume when Redis comes back).
      await requireRedis(app).catch((error: Error) => {
        app.logger.warn({ reason: error.message }, 'redis.unavailable');
        process.stderr.write(`herald: ${error.message}; waiting for it\n`);
      });
      const workers = await startWorkers(app, WORKER_NAMES, {
        deliveryProcesses: app.config.DELIVERY_PROCESSES,
      });
      const bounces = await startBounces(app);
      const http = await startHttp(app);
      const metrics = await startMetrics(app);
      await runUntilSignal(app, [...workers, ...bounces, http, ...metrics]);
      exitAfterStop();
    });

  program
    .command('worker [queues...]')
    .description(`run workers alone (all when none named: ${WORKER_NAMES.join(', ')})`)
    .action(async (names: string[]) => {
      const unknown = names.find((name) => !(WORKER_NAMES as string[]).includes(name));
      if (unknown)
        throw new UserError(`unknown worker "${unknown}" (known: ${WORKER_NAMES.join(', ')})`);
      const app = await createApp(serverConfig());
      await requireRedis(app).catch((error: Error) => {
        process.stderr.write(`herald: ${error.message}; waiting for it\n`);
      });
      const workers = await startWorkers(
        app,
        names.length > 0 ? (names as WorkerName[]) : WORKER_NAMES,
        { deliveryProcesses: app.config.DELIVERY_PROCESSES },
      );
      process.stderr.write(
        `herald: workers running: ${names.length > 0 ? names.join(', ') : WORKER_NAMES.join(', ')}\n`,
      );
      // A worker's own delivery counters and histograms are scraped here.
      const metrics = await startMetrics(app);
      await runUntilSignal(app, [...workers, ...metrics]);
      exitAfterStop();
    });
}
