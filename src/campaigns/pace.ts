// What the console shows of a campaign in flight and after: progress share, sending rate,
// time left, sends over time as bars, and failure reasons grouped. Pure functions over the
// ledger's counts (src/ledger/reports.ts) and an explicit clock.
import type { ReplyCount, SentMinute } from '../ledger/reports.ts';

export interface LedgerTally {
  total: number;
  sent: number;
  failed: number;
  bounced: number;
  suppressed: number;
  pending: number;
}

export interface Pace {
  /** Rows settled (anything but pending) out of the total, 0..100 whole percent. */
  percentDone: number;
  /** Messages sent per minute since the start (null before the first send). */
  perMinute: number | null;
  /** Seconds until the pending rows are sent at that rate (null when unknown or none left). */
  secondsLeft: number | null;
  /** Seconds from the start to the finish (or to now while unfinished); null before a start. */
  durationSeconds: number | null;
}

/** Progress figures of a campaign from its counts and its start and finish instants. */
export function paceOf(
  counts: LedgerTally,
  startedAt: string | null,
  finishedAt: string | null,
  now: Date,
): Pace {
  const settled = counts.total - counts.pending;
  const percentDone = counts.total > 0 ? Math.floor((settled / counts.total) * 100) : 0;
  if (!startedAt) return { percentDone, perMinute: null, secondsLeft: null, durationSeconds: null };
  const end = finishedAt ? new Date(finishedAt) : now;
  const seconds = Math.max(0, (end.getTime() - new Date(startedAt).getTime()) / 1000);
  const perMinute = counts.sent > 0 && seconds > 0 ? (counts.sent / seconds) * 60 : null;
  const secondsLeft =
    perMinute && counts.pending > 0 ? Math.ceil((counts.pending / perMinute) * 60) : null;
  return { percentDone, perMinute, secondsLeft, durationSeconds: Math.round(seconds) };
}

/** "2 h 05 min", "3 min 20 s", "45 s" (null: "—"). */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** One bar of the sends-over-time chart. */
export interface SendBar {
  /** The bar's first minute (YYYY-MM-DDTHH:MM, UTC). */
  from: string;
  sent: number;
  /** Height as a share of the tallest bar, 0..100 whole percent. */
  percent: number;
}

/**
 * Groups per-minute sends into at most `maxBars` equal spans from the first to the last minute
 * (empty spans kept, so the chart's gaps are real pauses).
 */
export function sendBars(minutes: readonly SentMinute[], maxBars = 24): SendBar[] {
  if (minutes.length === 0) return [];
  const toMs = (minute: string) => Date.parse(`${minute}:00Z`);
  const first = toMs(minutes[0]!.minute);
  const last = toMs(minutes[minutes.length - 1]!.minute);
  const spanMinutes = Math.floor((last - first) / 60_000) + 1;
  const perBar = Math.max(1, Math.ceil(spanMinutes / maxBars));
  const bars: SendBar[] = [];
  for (let i = 0; i * perBar < spanMinutes; i += 1) {
    bars.push({
      from: new Date(first + i * perBar * 60_000).toISOString().slice(0, 16),
      sent: 0,
      percent: 0,
    });
  }
  for (const { minute, sent } of minutes) {
    const index = Math.floor((toMs(minute) - first) / 60_000 / perBar);
    const bar = bars[index];
    if (bar) bar.sent += sent;
  }
  const tallest = Math.max(...bars.map((bar) => bar.sent));
  for (const bar of bars) bar.percent = tallest > 0 ? Math.round((bar.sent / tallest) * 100) : 0;
  return bars;
}

/** A group of failed or bounced rows sharing a reason. */
export interface ReasonGroup {
  status: 'failed' | 'bounced';
  reason: string;
  count: number;
}

const ADDRESS = /[^\s<>"'(),;:]{1,64}@[^\s<>"'(),;:]{1,255}/g;

/**
 * Groups replies by reason with addresses masked (a reply often names the recipient, which
 * would make every row its own group and show addresses to every editor), most common first.
 */
export function groupReasons(replies: readonly ReplyCount[], maxGroups = 10): ReasonGroup[] {
  const groups = new Map<string, ReasonGroup>();
  for (const { status, reply, count } of replies) {
    const reason =
      reply.replace(ADDRESS, '‹address›').replace(/\s+/g, ' ').trim().slice(0, 200) ||
      '(no reply recorded)';
    const key = `${status}\u0000${reason}`;
    const group = groups.get(key);
    if (group) group.count += count;
    else groups.set(key, { status, reason, count });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count).slice(0, maxGroups);
}
