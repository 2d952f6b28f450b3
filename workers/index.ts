// Starts the named workers (all when none are named) in this process.
import type { App } from '../src/app.ts';
import type { Service } from '../src/process/lifecycle.ts';
import { startCampaignsWorker } from './campaigns.ts';
import { startDeliveriesWorker } from './deliveries.ts';
import { startDigestsWorker } from './digests.ts';
import { startFeedsWorker } from './feeds.ts';
import { startReconcileWorker } from './reconcile.ts';
import { createDeliveryRuntime, type DeliveryRuntime } from './runtime.ts';

export const WORKERS = {
  campaigns: (rt: DeliveryRuntime) => startCampaignsWorker(rt),
  deliveries: (rt: DeliveryRuntime) => startDeliveriesWorker(rt),
  reconcile: (rt: DeliveryRuntime) => startReconcileWorker(rt),
  digests: (rt: DeliveryRuntime) => startDigestsWorker(rt),
  feeds: (rt: DeliveryRuntime) => startFeedsWorker(rt),
} satisfies Record<string, (rt: DeliveryRuntime) => Service | Promise<Service>>;

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
