// The click and open recorder: requests push events into an in-process buffer and return at
// once; the buffer is aggregated per row (a burst of one reader's clicks is one upsert) and
// flushed in batches every FLUSH_MS or FLUSH_AT rows, and on close (graceful shutdown loses
// nothing). Subscriber keys are checked at flush, off the redirect's path: an event whose key
// is not its subscriber's (forged, or the subscriber erased since) is dropped there.
import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.ts';
import type { Database } from '../store/schema.ts';
import type { EngagementKind } from '../store/schema-engagement.ts';
import { clicksTotal, engagementDroppedTotal, opensTotal } from './metrics.ts';
import {
  type EngagementCount,
  type HourlyCount,
  type LinkClickCount,
  tokenKeysOf,
  writeEngagement,
} from './store.ts';

export interface EngagementEvent {
  campaignId: number;
  subscriberId: number;
  /** The key the token carried (undefined: a keyless token, never recorded). */
  subscriberKey: string | undefined;
  kind: EngagementKind;
  /** For clicks: the tracked link's index. */
  linkIndex?: number;
  at: Date;
}

interface Pending {
  campaignId: number;
  subscriberId: number;
  subscriberKey: string;
  kind: EngagementKind;
  firstAt: string;
  lastAt: string;
  count: number;
  /** Clicks per link index. */
  links: Map<number, { firstAt: string; lastAt: string; count: number }>;
  /** Events per hour (YYYY-MM-DDTHH). */
  hours: Map<string, number>;
}

export interface RecorderOptions {
  /** Flush at least this often (ms). */
  flushMs?: number;
  /** Flush as soon as this many rows wait. */
  flushAt?: number;
  /** Items per write between yields to the event loop (default 200). */
  writeChunk?: number;
  /** At most this many rows wait; beyond, events are dropped (and counted). */
  maxPending?: number;
  logger?: Logger;
}

export interface EngagementRecorder {
  record(event: EngagementEvent): void;
  /** Writes what waits now; resolves when it is stored (or put back after a failure). */
  flush(): Promise<void>;
  /** Stops the timer and flushes everything still waiting. */
  close(): Promise<void>;
  /** Rows waiting (for tests and the bench). */
  readonly pending: number;
}

/** Creates a recorder writing into `db`. */
export function createRecorder(
  db: Kysely<Database>,
  options: RecorderOptions = {},
): EngagementRecorder {
  const flushMs = options.flushMs ?? 250;
  const flushAt = options.flushAt ?? 2_000;
  const WRITE_CHUNK = options.writeChunk ?? 200;
  const maxPending = options.maxPending ?? 200_000;
  let buffer = new Map<string, Pending>();
  let flushing: Promise<void> | null = null;
  let closed = false;
  let closing: Promise<void> | null = null;
  // The timer and a full buffer start a flush only when none runs; the one running picks up
  // whatever waits at its end through the next tick.
  const timer = setInterval(() => {
    if (!flushing) void flush();
  }, flushMs);
  timer.unref();

  function merge(into: Map<string, Pending>, key: string, item: Pending): void {
    const have = into.get(key);
    if (!have) {
      into.set(key, item);
      return;
    }
    have.count += item.count;
    if (item.firstAt < have.firstAt) have.firstAt = item.firstAt;
    if (item.lastAt > have.lastAt) have.lastAt = item.lastAt;
    for (const [index, link] of item.links) {
      const old = have.links.get(index);
      if (!old) have.links.set(index, { ...link });
      else {
        old.count += link.count;
        if (link.firstAt < old.firstAt) old.firstAt = link.firstAt;
        if (link.lastAt > old.lastAt) old.lastAt = link.lastAt;
      }
    }
    for (const [hour, n] of item.hours) have.hours.set(hour, (have.hours.get(hour) ?? 0) + n);
  }

  function record(event: EngagementEvent): void {
    if (event.subscriberKey === undefined) return;
    const key = `${event.campaignId}|${event.subscriberId}|${event.subscriberKey}|${event.kind}`;
    const at = event.at.toISOString();
    const hour = at.slice(0, 13);
    const have = buffer.get(key);
    if (have) {
      // The hot path of a burst: fold into the waiting row, allocating nothing.
      have.count += 1;
      if (at > have.lastAt) have.lastAt = at;
      if (at < have.firstAt) have.firstAt = at;
      have.hours.set(hour, (have.hours.get(hour) ?? 0) + 1);
      if (event.linkIndex !== undefined) {
        const link = have.links.get(event.linkIndex);
        if (!link) have.links.set(event.linkIndex, { firstAt: at, lastAt: at, count: 1 });
        else {
          link.count += 1;
          if (at > link.lastAt) link.lastAt = at;
          if (at < link.firstAt) link.firstAt = at;
        }
      }
      return;
    }
    if (buffer.size >= maxPending) {
      engagementDroppedTotal.inc();
      return;
    }
    buffer.set(key, {
      campaignId: event.campaignId,
      subscriberId: event.subscriberId,
      subscriberKey: event.subscriberKey,
      kind: event.kind,
      firstAt: at,
      lastAt: at,
      count: 1,
      links: new Map(
        event.linkIndex === undefined
          ? []
          : [[event.linkIndex, { firstAt: at, lastAt: at, count: 1 }]],
      ),
      hours: new Map([[hour, 1]]),
    });
    if (buffer.size >= flushAt && !flushing) void flush();
  }

  /**
   * Writes a batch in chunks of WRITE_CHUNK items, yielding to the event loop between them: on
   * SQLite each write runs synchronously, and one transaction of thousands of upserts would
   * hold every redirect waiting behind it. A committed chunk leaves `batch`, so a later failure
   * puts back only what was not written.
   */
  async function write(batch: Map<string, Pending>): Promise<void> {
    const entries = [...batch.entries()];
    for (let start = 0; start < entries.length; start += WRITE_CHUNK) {
      if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const chunk = entries.slice(start, start + WRITE_CHUNK);
      await writeChunk(chunk.map(([, item]) => item));
      for (const [key] of chunk) batch.delete(key);
    }
  }

  async function writeChunk(items: Pending[]): Promise<void> {
    const keys = await tokenKeysOf(db, [...new Set(items.map((i) => i.subscriberId))]);
    const valid = items.filter((i) => keys.get(i.subscriberId) === i.subscriberKey);
    const counts: EngagementCount[] = [];
    const linkClicks: LinkClickCount[] = [];
    const hourly = new Map<string, HourlyCount>();
    for (const item of valid) {
      counts.push({
        campaignId: item.campaignId,
        subscriberId: item.subscriberId,
        kind: item.kind,
        firstAt: item.firstAt,
        lastAt: item.lastAt,
        count: item.count,
      });
      for (const [linkIndex, link] of item.links) {
        linkClicks.push({
          campaignId: item.campaignId,
          linkIndex,
          subscriberId: item.subscriberId,
          ...link,
        });
      }
      for (const [hour, events] of item.hours) {
        const key = `${item.campaignId}|${item.kind}|${hour}`;
        const have = hourly.get(key);
        if (have) have.events += events;
        else hourly.set(key, { campaignId: item.campaignId, kind: item.kind, hour, events });
      }
    }
    await writeEngagement(db, { counts, linkClicks, hourly: [...hourly.values()] });
    for (const item of valid) {
      if (item.kind === 'click') clicksTotal.inc(item.count);
      else opensTotal.inc({ kind: item.kind }, item.count);
    }
  }

  /**
   * Writes what waits now; while a flush runs, first waits for it (and any started meanwhile).
   * It never resolves while a write is still going on, so a caller that then closes the store
   * cannot cut a write short.
   */
  function flush(): Promise<void> {
    if (flushing) return flushing.then(() => flush());
    if (buffer.size === 0) return Promise.resolve();
    const batch = buffer;
    buffer = new Map();
    flushing = write(batch)
      .catch((error: unknown) => {
        // The store is away: keep the events (bounded) for the next flush.
        options.logger?.warn({ err: error, rows: batch.size }, 'engagement.flush.failed');
        for (const [key, item] of batch) {
          if (buffer.has(key) || buffer.size < maxPending) merge(buffer, key, item);
          else engagementDroppedTotal.inc(item.count);
        }
      })
      .finally(() => {
        flushing = null;
      });
    return flushing;
  }

  return {
    record(event) {
      // Past close (a request racing shutdown) nothing would flush it: count it as dropped.
      if (closed) {
        engagementDroppedTotal.inc();
        return;
      }
      record(event);
    },
    flush,
    close() {
      // Every caller (the server's onClose and the app's) waits for the same final flush.
      closing ??= (async () => {
        closed = true;
        clearInterval(timer);
        // End a flush in progress, then write what waits; after a failed write, one more try.
        for (let round = 0; round < 3 && (flushing || buffer.size > 0); round++) await flush();
      })();
      return closing;
    },
    get pending() {
      return buffer.size;
    },
  };
}
