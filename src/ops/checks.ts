// The console's health page: each check Herald's readiness depends on (Redis, the store, the
// mail transport's verify) run on its own with how long it took, and the workers each queue
// has seen connected (BullMQ names its worker connections, read with CLIENT LIST).
import type { App } from '../app.ts';
import { ALL_QUEUES, type QueueName, type Queues } from '../delivery/queues.ts';
import type { MailTransport } from '../mail/transport.ts';
import { pingRedis } from '../redis/index.ts';
import { within } from './readiness.ts';

export interface TimedCheck {
  name: 'Redis' | 'Store' | 'Mail transport';
  ok: boolean;
  /** 'ok', or why it failed (hosts redacted as /readyz shows them). */
  detail: string;
  /** How long the check took, in milliseconds. */
  ms: number;
}

export interface QueueWorkers {
  queue: QueueName;
  /** Worker connections seen, or null when Redis would not list clients. */
  workers: number | null;
  /** Seconds since the most recently active worker connection last ran a command. */
  idleSeconds: number | null;
}

export interface HealthPage {
  status: 'ok' | 'unavailable';
  checkedAt: string;
  checks: TimedCheck[];
  workers: QueueWorkers[];
}

async function timed(
  name: TimedCheck['name'],
  run: () => Promise<string>,
  clock: () => number,
): Promise<TimedCheck> {
  const started = clock();
  const detail = await run();
  return { name, ok: detail === 'ok', detail, ms: Math.round(clock() - started) };
}

/** Workers connected per queue; a Redis that refuses CLIENT LIST gives nulls, not an error. */
export async function queueWorkers(queues: Queues): Promise<QueueWorkers[]> {
  return Promise.all(
    ALL_QUEUES.map(async (queue): Promise<QueueWorkers> => {
      try {
        const workers = await queues[queue].getWorkers();
        const idle = workers
          .map((worker) => Number(worker.idle))
          .filter((value) => Number.isFinite(value));
        return {
          queue,
          workers: workers.length,
          idleSeconds: idle.length > 0 ? Math.min(...idle) : null,
        };
      } catch {
        return { queue, workers: null, idleSeconds: null };
      }
    }),
  );
}

/** Runs every check with a deadline; never throws. */
export async function runHealthChecks(
  app: App,
  transport: Pick<MailTransport, 'verify' | 'label'>,
  queues: Queues,
  options: { timeoutMs?: number; now?: () => Date; clock?: () => number } = {},
): Promise<HealthPage> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const clock = options.clock ?? (() => performance.now());
  const now = options.now ?? (() => new Date());
  const [checks, workers] = await Promise.all([
    Promise.all([
      timed('Redis', () => pingRedis(app.redis(), app.config, timeoutMs), clock),
      timed('Store', () => within(timeoutMs, () => app.store.ping(), 'the store'), clock),
      timed(
        'Mail transport',
        () => within(timeoutMs, () => transport.verify(), transport.label),
        clock,
      ),
    ]),
    queueWorkers(queues),
  ]);
  return {
    status: checks.every((check) => check.ok) ? 'ok' : 'unavailable',
    checkedAt: now().toISOString(),
    checks,
    workers,
  };
}
