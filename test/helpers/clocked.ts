// Runs the named workers in the test process on a movable clock (the real clock plus an offset
// the test sets), so schedules planned for other days run in seconds. BullMQ delays stay real.
import type { App } from '../../src/app.ts';
import type { Service } from '../../src/process/lifecycle.ts';
import { WORKERS, type WorkerName } from '../../workers/index.ts';
import { createDeliveryRuntime } from '../../workers/runtime.ts';

export interface TestClock {
  now: () => Date;
  /** Makes the clock read `at` now; it then runs on at the real rate. */
  set(at: Date): void;
}

/** A clock that reads `start` now and runs on at the real rate. */
export function testClock(start: Date): TestClock {
  let offset = start.getTime() - Date.now();
  return {
    now: () => new Date(Date.now() + offset),
    set(at: Date) {
      offset = at.getTime() - Date.now();
    },
  };
}

/** Starts workers on the clock; returns a function that stops them (in reverse). */
export async function startClockedWorkers(
  app: App,
  clock: TestClock,
  names: readonly WorkerName[],
): Promise<() => Promise<void>> {
  const rt = await createDeliveryRuntime(app, clock.now);
  const services: Service[] = [];
  for (const name of names) services.push(await WORKERS[name](rt));
  return async () => {
    for (const service of services.reverse()) await service.stop();
  };
}
