// Peak watchers for a bench phase: Redis memory (whole server and this run's prefix) and a
// child process's resident memory.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export interface RedisPeak {
  /** max(INFO used_memory) during the phase minus the value before it (whole server). */
  usedDelta: number;
  /** max over samples of the summed MEMORY USAGE of the keys under this run's prefix. */
  prefixBytes: number;
  /** the most keys under the prefix seen at once */
  prefixKeys: number;
}

/** INFO memory → used_memory in bytes. */
async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

/** Sums MEMORY USAGE over every key matching `prefix:*`; returns bytes and key count. */
export async function prefixMemory(
  redis: Redis,
  prefix: string,
): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of found) pipeline.memory('USAGE', key, 'SAMPLES', '0');
      const results = (await pipeline.exec()) ?? [];
      for (const [, value] of results) bytes += Number(value ?? 0);
      keys += found.length;
    }
  } while (cursor !== '0');
  return { bytes, keys };
}

/** Starts sampling Redis memory; `stop()` returns the peaks. */
export async function watchRedis(
  redis: Redis,
  prefix: string,
  everyMs = 100,
): Promise<{ stop(): Promise<RedisPeak> }> {
  const baseline = await usedMemory(redis);
  let maxUsed = baseline;
  let prefixBytes = 0;
  let prefixKeys = 0;
  let tick = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      maxUsed = Math.max(maxUsed, await usedMemory(redis));
      // The per-key walk costs more: every fifth tick.
      if (tick % 5 === 0) {
        const usage = await prefixMemory(redis, prefix);
        prefixBytes = Math.max(prefixBytes, usage.bytes);
        prefixKeys = Math.max(prefixKeys, usage.keys);
      }
      tick += 1;
      await new Promise((done) => setTimeout(done, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { usedDelta: maxUsed - baseline, prefixBytes, prefixKeys };
    },
  };
}

/** A process's peak resident set (VmHWM) in bytes, from /proc; 0 when unreadable. */
export function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Deletes every key under `prefix:` (this run's own queues only). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== '0');
}

/** CPU time (user + system) a process has used so far, in ms, from /proc; 0 when unreadable. */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name: state is field 3, utime 14 and stime 15 (1-based).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Linux USER_HZ: 100 on every mainstream build. */
const CLOCK_TICKS = 100;

/** CPU time this process has used so far, in ms. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
