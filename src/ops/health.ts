// Health of the parts every process needs (Redis and the store), for GET /healthz, /readyz and
// `herald` checks. The routes that show it are wiring in src/http.
import type { App } from '../app.ts';
import { pingRedis } from '../redis/index.ts';

export interface HealthReport {
  status: 'ok' | 'unavailable';
  redis: 'ok' | string;
  store: 'ok' | string;
}

/** Checks each dependency with a deadline; never throws. */
export async function checkHealth(app: App, timeoutMs = 2_000): Promise<HealthReport> {
  const [redis, store] = await Promise.all([
    pingRedis(app.redis(), app.config, timeoutMs),
    app.store
      .ping()
      .then(() => 'ok' as const)
      .catch((error: unknown) => (error instanceof Error ? error.message : String(error))),
  ]);
  return { status: redis === 'ok' && store === 'ok' ? 'ok' : 'unavailable', redis, store };
}

/** What the public /healthz shows: up or not per part, never why (reasons name hosts). */
export interface PublicHealth {
  status: 'ok' | 'unavailable';
  redis: 'ok' | 'unavailable';
  store: 'ok' | 'unavailable';
}

/** The public view of a health report. */
export function publicHealth(report: HealthReport): PublicHealth {
  const state = (value: string) => (value === 'ok' ? 'ok' : 'unavailable');
  return { status: report.status, redis: state(report.redis), store: state(report.store) };
}
