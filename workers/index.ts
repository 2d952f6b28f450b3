// Starts the named workers (all when none are named): in this process, or with the deliveries
// queue in DELIVERY_PROCESSES child processes (workers/delivery-process.ts) when asked to.
import type { App } from '../src/app.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { createSupervisor } from '../src/process/supervisor.ts';
import { createDeliveryRuntime, type DeliveryRuntime } from './runtime.ts';

// Each worker's module loads when it starts: a process running some queues does not hold the
// code (and the memory) of the others (feeds pulls in an HTML parser and an HTTP client,
// digests the scheduler, none of which a delivery process needs).
export const WORKERS = {
  campaigns: async (rt: DeliveryRuntime) =>
    (await import('./campaigns.ts')).startCampaignsWorker(rt),
  deliveries: async (rt: DeliveryRuntime) =>
    (await import('./deliveries.ts')).startDeliveriesWorker(rt),
  reconcile: async (rt: DeliveryRuntime) =>
    (await import('./reconcile.ts')).startReconcileWorker(rt),
  digests: async (rt: DeliveryRuntime) => (await import('./digests.ts')).startDigestsWorker(rt),
  feeds: async (rt: DeliveryRuntime) => (await import('./feeds.ts')).startFeedsWorker(rt),
} satisfies Record<string, (rt: DeliveryRuntime) => Promise<Service>>;

export type WorkerName = keyof typeof WORKERS;
export const WORKER_NAMES = Object.keys(WORKERS) as WorkerName[];

export interface StartOptions {
  /**
   * Processes that run the deliveries queue: 1 (the default here) runs it in this process;
   * more forks that many delivery processes under a supervisor. `herald start` and `herald
   * worker` pass DELIVERY_PROCESSES.
   */
  deliveryProcesses?: number;
}

/** Starts workers; returns them as services to stop (in reverse) on shutdown. */
export async function startWorkers(
  app: App,
  names: readonly WorkerName[] = WORKER_NAMES,
  options: StartOptions = {},
): Promise<Service[]> {
  const processes = options.deliveryProcesses ?? 1;
  const forked = processes > 1 && names.includes('deliveries');
  const rt = await createDeliveryRuntime(app);
  const services: Service[] = [];
  for (const name of names) {
    if (name === 'deliveries' && forked)
      services.push(await startDeliveryProcesses(app, processes));
    else services.push(await WORKERS[name](rt));
  }
  return services;
}

/**
 * V8 options of a delivery process unless its parent was started with its own. A delivery
 * process allocates a 37 kB message per recipient and keeps it only until the SMTP server
 * answers: 2 MB semi-spaces (default 16 MB) collect those buffers young; a single-threaded GC
 * then spends a third less CPU on the many small scavenges than V8's helper threads did
 * (measured: 71 → 48 µs of process CPU per message built). What survives is short-lived
 * too (a batch's rows, its replies): V8 let the old generation grow to about three times
 * what was live (~35 MB live, 100 MB of heap, a peak of 186 MiB RSS in a 1,000,000
 * campaign) before it collected; --heap-growing-percent=50 collects at one and a half times.
 */
export const DELIVERY_V8_OPTIONS = [
  '--max-semi-space-size=2',
  '--single-threaded-gc',
  '--heap-growing-percent=50',
];

/** The parent's Node options plus DELIVERY_V8_OPTIONS the parent did not set itself. */
export function deliveryExecArgv(parent: readonly string[]): string[] {
  const own = DELIVERY_V8_OPTIONS.filter(
    (option) => !parent.some((arg) => arg.startsWith(option.split('=')[0]!)),
  );
  return [...parent, ...own];
}

/**
 * The delivery process entry beside this module: the build's .js, or the source .ts (run by
 * the same tsx loader that runs this process, as bin/herald.js does without a build).
 */
function deliveryEntry(): { modulePath: URL; execArgv: string[] } {
  const source = import.meta.url.endsWith('.ts');
  const modulePath = new URL(`./delivery-process.${source ? 'ts' : 'js'}`, import.meta.url);
  const execArgv = deliveryExecArgv(process.execArgv);
  if (!source) return { modulePath, execArgv };
  const loaded = process.execArgv.some((arg) => arg.includes('tsx'));
  const loader = loaded ? [] : ['--import', import.meta.resolve('tsx')];
  return { modulePath, execArgv: [...execArgv, ...loader] };
}

/** Forks `count` delivery processes under a supervisor; stopping the service drains them. */
async function startDeliveryProcesses(app: App, count: number): Promise<Service> {
  const supervisor = createSupervisor({
    name: 'deliveries',
    count,
    ...deliveryEntry(),
    logger: app.logger,
  });
  await supervisor.start();
  return { name: `worker:deliveries×${count}`, stop: () => supervisor.stop() };
}
