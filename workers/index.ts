// Starts the named workers (all when none are named) in this process.
import type { App } from '../src/app.ts';
import type { Service } from '../src/process/lifecycle.ts';
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

/** Starts workers; returns them as services to stop (in reverse) on shutdown. */
export async function startWorkers(
  app: App,
  names: readonly WorkerName[] = WORKER_NAMES,
): Promise<Service[]> {
  const rt = await createDeliveryRuntime(app);
  const services: Service[] = [];
  for (const name of names) services.push(await WORKERS[name](rt));
  return services;
}
