// GET /readyz's checks: Redis, the store (as /healthz) and the mail transport.
import type { App } from '../app.ts';
import type { MailTransport } from '../mail/transport.ts';
import { checkHealth } from './health.ts';

export interface ReadinessReport {
  status: 'ok' | 'unavailable';
  redis: 'ok' | string;
  store: 'ok' | string;
  smtp: 'ok' | string;
}

/** Resolves with 'ok' or the reason the work failed or did not finish within `ms`. */
export async function within(
  ms: number,
  work: () => Promise<unknown>,
  what: string,
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${what} did not answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([
      work().then(
        () => 'ok',
        (error: unknown) => `${what}: ${error instanceof Error ? error.message : String(error)}`,
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks every dependency the service needs to do its work; never throws. */
export async function checkReadiness(
  app: App,
  transport: Pick<MailTransport, 'verify' | 'label'>,
  timeoutMs = 3_000,
): Promise<ReadinessReport> {
  const [health, smtp] = await Promise.all([
    checkHealth(app, timeoutMs),
    within(timeoutMs, () => transport.verify(), transport.label),
  ]);
  const ok = health.status === 'ok' && smtp === 'ok';
  return { status: ok ? 'ok' : 'unavailable', redis: health.redis, store: health.store, smtp };
}
