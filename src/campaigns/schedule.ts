// Local-time planning: when does "HH:MM in the subscriber's own zone" happen, as an instant.
// Pure functions over explicit inputs (the clock is an argument), so tests drive any date.
//
// The rules, stated once:
// - A campaign scheduled at a local time goes to each subscriber at the NEXT instant at or
//   after the planning anchor at which their zone's clock reads HH:MM. Where HH:MM has already
//   passed today in a zone, that zone gets it tomorrow at HH:MM: every subscriber receives it
//   within 24 hours of scheduling, always at the wall-clock time the editor chose.
// - The anchor is the instant of the first zone's send (stored as the campaign's scheduled_at),
//   so planning again after a crash or on another worker gives the same instants.
// - A wall-clock time that a DST jump skips (02:30 on a spring-forward night) is sent the
//   gap's length later (03:30 local, i.e. the same elapsed time after the jump); a time that
//   occurs twice (01:30 on a fall-back night) is sent at its first occurrence.
// - A subscriber whose stored zone is unknown to the time-zone database is planned in UTC.
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';

export interface LocalTime {
  hour: number;
  minute: number;
}

/** HH:MM on a 24-hour clock, e.g. "07:00" or "18:30". */
export const localTimeSchema = z
  .string()
  .trim()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour time HH:MM, e.g. 07:00')
  .transform((text): LocalTime => {
    const [hour, minute] = text.split(':').map(Number);
    return { hour: hour!, minute: minute! };
  });

/** Parses HH:MM; returns null when it is not a valid 24-hour time. */
export function parseLocalTime(text: string): LocalTime | null {
  const parsed = localTimeSchema.safeParse(text);
  return parsed.success ? parsed.data : null;
}

/** Formats a local time back to HH:MM. */
export function formatLocalTime(time: LocalTime): string {
  return `${String(time.hour).padStart(2, '0')}:${String(time.minute).padStart(2, '0')}`;
}

/** Whether the IANA time-zone database knows the zone (e.g. "Asia/Kolkata", "UTC"). */
export function isKnownZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** The zone itself when known, else UTC (the planning fallback for bad stored data). */
export function zoneOrUtc(zone: string): string {
  return isKnownZone(zone) ? zone : 'UTC';
}

/**
 * The instants on one local calendar date at which the zone's clock reads the given time:
 * one normally, two in a fall-back overlap, none in a spring-forward gap.
 */
function instantsOnDate(date: DateTime, time: LocalTime, zone: IANAZone): number[] {
  const wall = Date.UTC(date.year, date.month - 1, date.day, time.hour, time.minute);
  // The zone's offsets around that date (at most two differ within two days).
  const offsets = new Set(
    [-36, -12, 0, 12, 36].map((hours) => zone.offset(wall + hours * 3_600_000)),
  );
  const found: number[] = [];
  for (const offset of offsets) {
    const instant = wall - offset * 60_000;
    if (zone.offset(instant) === offset) found.push(instant);
  }
  return found.sort((a, b) => a - b);
}

/**
 * The next instant at or after `from` at which the zone's clock reads `time` (see the rules at
 * the top of this file for passed times and DST).
 */
export function nextLocalOccurrence(time: LocalTime, zone: string, from: Date): Date {
  const iana = IANAZone.create(zoneOrUtc(zone));
  const start = DateTime.fromJSDate(from, { zone: iana }).startOf('day');
  for (let days = 0; days <= 2; days += 1) {
    const date = start.plus({ days });
    const instants = instantsOnDate(date, time, iana);
    const candidates =
      instants.length > 0
        ? instants
        : // Skipped by a DST jump: luxon moves a missing wall time forward by the gap.
          [date.set({ hour: time.hour, minute: time.minute }).toMillis()];
    const next = candidates.find((instant) => instant >= from.getTime());
    if (next !== undefined) return new Date(next);
  }
  // Unreachable: some date within two days has the time (kept for the type checker).
  throw new Error(`no ${formatLocalTime(time)} in ${zone} after ${from.toISOString()}`);
}

/** Each zone's send instant for a local-time schedule planned from `from`. */
export function planLocalTime(
  time: LocalTime,
  zones: readonly string[],
  from: Date,
): Map<string, Date> {
  const plan = new Map<string, Date>();
  for (const zone of zones) plan.set(zone, nextLocalOccurrence(time, zone, from));
  return plan;
}

/** The first send instant of a local-time schedule (UTC stands in for an empty audience). */
export function firstLocalOccurrence(time: LocalTime, zones: readonly string[], from: Date): Date {
  const instants = [...planLocalTime(time, zones.length > 0 ? zones : ['UTC'], from).values()];
  return new Date(Math.min(...instants.map((instant) => instant.getTime())));
}

/**
 * Reads an editor's `at`: an ISO-8601 instant with an offset, or a local date-time without
 * one read in `zone`. Returns null for a malformed value.
 */
export function resolveAt(at: string, zone?: string): Date | null {
  const text = at.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return null;
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  if (hasOffset || zone === undefined) {
    if (!hasOffset) return null;
    const instant = DateTime.fromISO(text, { setZone: true });
    return instant.isValid ? instant.toJSDate() : null;
  }
  const local = DateTime.fromISO(text, { zone });
  return local.isValid ? local.toJSDate() : null;
}
