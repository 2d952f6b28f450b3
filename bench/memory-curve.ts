// The memory curve of a bench run: every few seconds, the resident memory of every Herald
// process (the ones the bench started and all their descendants, e.g. DELIVERY_PROCESSES
// children) and the bytes Redis holds under the run's queue prefix, so a reader sees whether
// memory stays flat while a campaign of any size goes out.
//
//   const curve = startMemoryCurve({ roots: () => [{ label: 'worker', pid }], redis, prefix });
//   … run …
//   const result = await curve.stop();
//   process.stdout.write(formatMemoryCurve(result));
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { prefixMemory } from './monitor.ts';

/** A process the curve follows, with every descendant it starts. */
export interface CurveRoot {
  label: string;
  pid: number;
}

export interface CurveOptions {
  /** The processes to follow (asked at every sample: roots may come and go). */
  roots: () => readonly CurveRoot[];
  redis: Redis;
  /** The run's QUEUE_PREFIX: Herald's keys are `prefix:*`. */
  prefix: string;
  /** Milliseconds between samples (default 3,000). */
  everyMs?: number;
  /**
   * Milliseconds between reads of every process's peak (VmHWM), default 250: a process that
   * lives for seconds only (the MJML compiler a campaign forks) has its peak counted too.
   */
  peakEveryMs?: number;
}

export interface CurveSample {
  /** ms since the curve started */
  atMs: number;
  /** RSS in bytes of each followed process at this instant, by label */
  rss: Map<string, number>;
  /** summed MEMORY USAGE of the keys under the prefix (SCAN … MATCH prefix:*) */
  redisBytes: number;
  redisKeys: number;
}

export interface CurveResult {
  samples: CurveSample[];
  /** Each process's peak RSS (VmHWM: the kernel's high-water mark, between samples too). */
  peakRss: Map<string, number>;
  /** The most bytes seen under the prefix in one sample, and the most keys. */
  redisPeakBytes: number;
  redisPeakKeys: number;
}

/** `/proc/<pid>/status` fields in bytes: current RSS and its high-water mark; null once gone. */
export function processMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return null;
  }
}

/** The parent of every live process, from /proc/<pid>/stat (field 4). */
function parentsByPid(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // the process ended while the list was read
    }
  }
  return parents;
}

/** What a descendant runs, from its command line: `delivery`, `mjml` or the script's name. */
function roleOf(pid: number): string | null {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // An exited process not yet reaped has no command line: left out.
    if (args.length < 2) return null;
    const script = args.find((arg) => /\.(m?js|ts)$/.test(arg)) ?? args[0] ?? '';
    const name = script.slice(script.lastIndexOf('/') + 1).replace(/\.(m?js|ts)$/, '');
    if (name === 'delivery-process') return 'delivery';
    if (name === 'mjml-worker') return 'mjml';
    return name;
  } catch {
    return null;
  }
}

/** Each root and its live descendants, labelled `root` and `role pid` (e.g. `delivery 4242`). */
export function followedProcesses(roots: readonly CurveRoot[]): CurveRoot[] {
  const parents = parentsByPid();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const found: CurveRoot[] = [];
  const walk = (label: string, pid: number) => {
    found.push({ label, pid });
    for (const child of children.get(pid) ?? []) {
      const role = roleOf(child);
      if (role) walk(`${role} ${child}`, child);
    }
  };
  for (const root of roots) if (parents.has(root.pid)) walk(root.label, root.pid);
  return found;
}

/** Starts sampling at once and every `everyMs`; `stop()` takes a last sample and returns all. */
export function startMemoryCurve(options: CurveOptions): { stop(): Promise<CurveResult> } {
  const everyMs = options.everyMs ?? 3_000;
  const started = Date.now();
  const samples: CurveSample[] = [];
  const peakRss = new Map<string, number>();
  let running = true;
  let wake: (() => void) | undefined;

  /** Reads every followed process's RSS and peak; returns the RSS by label. */
  const readProcesses = () => {
    const rss = new Map<string, number>();
    for (const { label, pid } of followedProcesses(options.roots())) {
      const memory = processMemory(pid);
      if (!memory) continue;
      rss.set(label, memory.rss);
      peakRss.set(label, Math.max(peakRss.get(label) ?? 0, memory.hwm));
    }
    return rss;
  };
  const peakTimer = setInterval(readProcesses, options.peakEveryMs ?? 250);
  const sample = async () => {
    const rss = readProcesses();
    const redis = await prefixMemory(options.redis, options.prefix);
    samples.push({
      atMs: Date.now() - started,
      rss,
      redisBytes: redis.bytes,
      redisKeys: redis.keys,
    });
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await new Promise<void>((done) => {
        wake = done;
        setTimeout(done, everyMs);
      });
    }
    await sample();
  })();
  return {
    async stop() {
      running = false;
      clearInterval(peakTimer);
      wake?.();
      await loop;
      return {
        samples,
        peakRss,
        redisPeakBytes: Math.max(0, ...samples.map((s) => s.redisBytes)),
        redisPeakKeys: Math.max(0, ...samples.map((s) => s.redisKeys)),
      };
    },
  };
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/**
 * The curve as a text table: one row per sample (at most `maxRows`, evenly thinned, the
 * first and last kept), one RSS column per process in MiB, then Herald's Redis bytes; and a
 * last line with each process's peak.
 */
export function formatMemoryCurve(result: CurveResult, maxRows = 24): string {
  const labels = [...result.peakRss.keys()];
  const { samples } = result;
  const step = Math.max(1, Math.ceil(samples.length / maxRows));
  const shown = samples.filter((_, i) => i % step === 0 || i === samples.length - 1);
  const header = ['t (s)', ...labels.map((l) => `${l} RSS MiB`), 'Redis MiB', 'keys'];
  const rows = shown.map((s) => [
    (s.atMs / 1000).toFixed(0),
    ...labels.map((l) => (s.rss.has(l) ? mib(s.rss.get(l)!) : '-')),
    mib(s.redisBytes),
    String(s.redisKeys),
  ]);
  rows.push([
    'peak',
    ...labels.map((l) => mib(result.peakRss.get(l)!)),
    mib(result.redisPeakBytes),
    String(result.redisPeakKeys),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padStart(widths[i]!)).join('  ')}`;
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
