// Runs N copies of a child process (the delivery processes of `herald start` and `herald
// worker`), restarts one that dies, and stops them all on request. A dead child's batch is
// recovered by the delivery protocol (its job stalls and is taken again, its claimed rows are
// taken back by the same job): nothing here knows about jobs.
import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from '../log/index.ts';

/** How fast a child that keeps dying is restarted. */
export interface RestartPolicy {
  /** Delay before the first restart; doubled for each further restart within a minute. */
  baseMs: number;
  /** The longest delay between a death and its restart (below the per-minute cap). */
  maxMs: number;
  /** At most this many restarts of one child in any 60 s; beyond it, wait for the window. */
  perMinute: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseMs: 200, maxMs: 10_000, perMinute: 10 };

const MINUTE_MS = 60_000;

/**
 * The delay before restarting a child that died at `now`, given the times of its earlier
 * restarts: exponential in the restarts of the last minute, capped at `maxMs`, and never so
 * soon that the minute would hold more than `perMinute` restarts.
 */
export function restartDelay(
  earlierRestarts: readonly number[],
  now: number,
  policy: RestartPolicy = DEFAULT_RESTART_POLICY,
): number {
  const recent = earlierRestarts.filter((at) => at > now - MINUTE_MS).sort((a, b) => a - b);
  const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** recent.length);
  if (recent.length < policy.perMinute) return backoff;
  // The restart that has to leave the window before another fits in it.
  const leaving = recent[recent.length - policy.perMinute]!;
  return Math.max(backoff, leaving + MINUTE_MS - now);
}

/** What the child sends on its IPC channel once it takes work. */
export const READY_MESSAGE = 'herald:ready';

export interface SupervisorOptions {
  /** A short name for logs (the queue the children run). */
  name: string;
  /** How many children run at once. */
  count: number;
  /** The module each child runs (a path or file URL). */
  modulePath: string | URL;
  /** Node options of the children; unset: this process's own (so --cpu-prof carries over). */
  execArgv?: string[];
  logger: Logger;
  policy?: RestartPolicy;
  now?: () => number;
}

export interface Supervisor {
  /** Starts every child; resolves once each has said it is ready (or rejects if one exits first). */
  start(): Promise<void>;
  /** The pids of the children running now (for tests and the bench). */
  pids(): number[];
  /** Restarts since start, all children together. */
  restarts(): number;
  /**
   * Sends SIGTERM to every child (no more restarts) and resolves once all have exited. No time
   * limit, as for one process: a drain cut short would leave sent messages unrecorded (the
   * duplicates a graceful stop promises not to make); SIGKILL is the operator's to send.
   */
  stop(): Promise<void>;
}

interface Slot {
  index: number;
  child: ChildProcess | null;
  restartTimes: number[];
  timer: NodeJS.Timeout | null;
}

/** A supervisor of `count` forked children; nothing runs until start(). */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  const policy = options.policy ?? DEFAULT_RESTART_POLICY;
  const now = options.now ?? Date.now;
  const { logger, name } = options;
  const slots: Slot[] = Array.from({ length: options.count }, (_, index) => ({
    index,
    child: null,
    restartTimes: [],
    timer: null,
  }));
  let stopping = false;
  let restartCount = 0;

  /** Forks the slot's child; resolves when it is ready, rejects when it exits before. */
  const launch = (slot: Slot): Promise<void> => {
    const child = fork(options.modulePath, [], {
      execArgv: options.execArgv ?? process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if (message !== READY_MESSAGE) return;
        child.off('message', onMessage);
        logger.info({ process: name, slot: slot.index, pid: child.pid }, 'process.child.ready');
        resolve();
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) =>
        reject(
          new Error(
            `${name} process ${slot.index} exited before it was ready (${signal ?? `code ${code}`})`,
          ),
        ),
      );
    });
    // A failed spawn (no such file, too many processes) arrives as 'error', then 'exit'.
    child.on('error', (error) =>
      logger.error({ process: name, slot: slot.index, err: error.message }, 'process.child.error'),
    );
    child.once('exit', (code, signal) => {
      slot.child = null;
      if (stopping) return;
      const at = now();
      const delayMs = restartDelay(slot.restartTimes, at, policy);
      logger.error(
        { process: name, slot: slot.index, pid: child.pid, code, signal, restart_in_ms: delayMs },
        'process.child.died',
      );
      slot.timer = setTimeout(() => {
        slot.timer = null;
        if (stopping) return;
        slot.restartTimes = [...slot.restartTimes.filter((t) => t > now() - MINUTE_MS), now()];
        restartCount += 1;
        launch(slot).catch(() => {
          // Its exit is handled (and restarted) above; nothing waits on this readiness.
        });
      }, delayMs);
    });
    return ready;
  };

  return {
    async start() {
      try {
        await Promise.all(slots.map(launch));
      } catch (error) {
        // A child that cannot start is a set-up fault: say so at start, do not loop on it.
        await this.stop();
        throw error;
      }
      logger.info({ process: name, count: slots.length }, 'process.children.started');
    },
    pids() {
      return slots.flatMap((slot) => (slot.child?.pid ? [slot.child.pid] : []));
    },
    restarts() {
      return restartCount;
    },
    async stop() {
      stopping = true;
      await Promise.all(
        slots.map(async (slot) => {
          if (slot.timer) clearTimeout(slot.timer);
          const child = slot.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          await exited;
        }),
      );
      logger.info({ process: name }, 'process.children.stopped');
    },
  };
}
