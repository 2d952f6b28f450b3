// Digest periods: when a subscriber's daily or weekly digest is due, as pure functions of their
// preferences and an instant (the clock is an argument).
//
// A period starts at the subscriber's send hour in their own zone: every day (daily) or on
// their weekday (weekly, ISO 1 = Monday … 7 = Sunday). A digest is due during the hour that
// follows the start, so the ticks of that hour (every DIGEST_TICK_MS, at most an hour) all see
// it; one that already went out in this period (last_digest_at ≥ start) is not due again.
// A send hour skipped by a DST jump starts the period when the clock resumes (02:00 → 03:00);
// an hour that occurs twice starts it at its first occurrence. Unknown zones count as UTC.
import { DateTime } from 'luxon';
import { zoneOrUtc } from '../campaigns/schedule.ts';

export type DigestFrequency = 'daily' | 'weekly';

export interface DigestPreferences {
  digest: DigestFrequency;
  /** Local hour 0-23. */
  sendHour: number;
  /** ISO weekday 1-7, read for weekly digests only. */
  weekday: number;
  timezone: string;
}

export interface DigestPeriod {
  /** The instant the period began (its digest is due for one hour from here). */
  start: Date;
  /** The start of the period before (the "since" of a first digest). */
  previousStart: Date;
  /** Local label, e.g. `daily 2026-11-28` or `weekly 2026-W48`. */
  key: string;
}

const WINDOW_MS = 3_600_000;

/** The instant at which the zone's clock first reads `hour`:00 on the local date of `day`. */
function hourStart(day: DateTime, hour: number): DateTime {
  const start = day.startOf('day');
  const naive = start.set({ hour });
  // In a fall-back overlap luxon picks the later offset; an hour earlier may read the same.
  const earlier = naive.minus({ hours: 1 });
  return earlier.hour === hour && earlier.day === naive.day ? earlier : naive;
}

/** The period that starts on the local date `day` (its weekday already checked). */
function periodOn(day: DateTime, prefs: DigestPreferences): DigestPeriod {
  const before = day.minus(prefs.digest === 'weekly' ? { weeks: 1 } : { days: 1 });
  return {
    start: hourStart(day, prefs.sendHour).toJSDate(),
    previousStart: hourStart(before, prefs.sendHour).toJSDate(),
    key:
      prefs.digest === 'weekly'
        ? `weekly ${day.toFormat("kkkk-'W'WW")}`
        : `daily ${day.toFormat('yyyy-LL-dd')}`,
  };
}

/** The period whose digest is due at `at`, or null when none is (see the rules above). */
export function duePeriod(prefs: DigestPreferences, at: Date): DigestPeriod | null {
  const local = DateTime.fromJSDate(at, { zone: zoneOrUtc(prefs.timezone) });
  // The start may be on the previous local date when the hour began just before midnight.
  for (const back of [0, 1]) {
    const day = local.minus({ days: back });
    if (prefs.digest === 'weekly' && day.weekday !== prefs.weekday) continue;
    const period = periodOn(day, prefs);
    const delta = at.getTime() - period.start.getTime();
    if (delta >= 0 && delta < WINDOW_MS) return period;
  }
  return null;
}

/** The most recent period started at or before `at` (for previews, whatever the hour). */
export function latestPeriod(prefs: DigestPreferences, at: Date): DigestPeriod {
  const local = DateTime.fromJSDate(at, { zone: zoneOrUtc(prefs.timezone) });
  for (let back = 0; back <= 8; back += 1) {
    const day = local.minus({ days: back });
    if (prefs.digest === 'weekly' && day.weekday !== prefs.weekday) continue;
    const period = periodOn(day, prefs);
    if (period.start.getTime() <= at.getTime()) return period;
  }
  throw new Error('unreachable: eight days always hold the weekday');
}

/** The first period that starts after `at` (when the subscriber's next digest can go out). */
export function nextPeriod(prefs: DigestPreferences, at: Date): DigestPeriod {
  const local = DateTime.fromJSDate(at, { zone: zoneOrUtc(prefs.timezone) });
  for (let ahead = 0; ahead <= 8; ahead += 1) {
    const day = local.plus({ days: ahead });
    if (prefs.digest === 'weekly' && day.weekday !== prefs.weekday) continue;
    const period = periodOn(day, prefs);
    if (period.start.getTime() > at.getTime()) return period;
  }
  throw new Error('unreachable: eight days always hold the weekday');
}
