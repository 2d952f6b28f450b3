// When digests go out next, per time zone: the console's digests page. Subscribers who share a
// zone, frequency, send hour and weekday share a period (period.ts); a zone's next daily and
// weekly digest is the earliest of its groups', and each group is listed with its count.
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { canonicalZone } from '../subscribers/zones.ts';
import { type DigestFrequency, nextPeriod } from './period.ts';

/** One group of active digest subscribers with the same schedule. */
export interface DigestScheduleGroup {
  digest: DigestFrequency;
  sendHour: number;
  /** ISO weekday (weekly digests only; null for daily). */
  weekday: number | null;
  subscribers: number;
  /** The instant their next digest goes out. */
  next: Date;
}

/** A zone with subscribers: how many, and when its next daily and weekly digests go out. */
export interface DigestZone {
  timezone: string;
  /** Active subscribers in the zone (digest on or off). */
  subscribers: number;
  daily: { next: Date; subscribers: number } | null;
  weekly: { next: Date; subscribers: number } | null;
  groups: DigestScheduleGroup[];
}

/**
 * Every zone with active subscribers, with its next daily and weekly digest after `at` and how
 * many subscribers get each (all of the zone's subscribers of that frequency); zones with the
 * soonest digest first, zones without digests last (by name).
 */
export async function digestOverview(db: Kysely<Database>, at: Date): Promise<DigestZone[]> {
  // One grouped read: a few rows per zone, whatever the number of subscribers.
  const rows = await db
    .selectFrom('subscribers')
    .select(['timezone', 'digest', 'send_hour', 'digest_weekday'])
    .select((eb) => eb.fn.countAll().as('n'))
    .where('status', '=', 'active')
    .groupBy(['timezone', 'digest', 'send_hour', 'digest_weekday'])
    .execute();
  const zones = new Map<string, DigestZone>();
  for (const row of rows) {
    const count = Number(row.n);
    // Zones by their current IANA name (ICU stores some under old ones: Asia/Calcutta).
    const name = canonicalZone(row.timezone);
    let zone = zones.get(name);
    if (!zone) {
      zone = { timezone: name, subscribers: 0, daily: null, weekly: null, groups: [] };
      zones.set(name, zone);
    }
    zone.subscribers += count;
    if (row.digest === 'off') continue;
    const digest: DigestFrequency = row.digest;
    const weekday = digest === 'weekly' ? row.digest_weekday : null;
    const next = nextPeriod(
      { digest, sendHour: row.send_hour, weekday: weekday ?? 1, timezone: row.timezone },
      at,
    ).start;
    const existing = zone.groups.find(
      (g) => g.digest === digest && g.sendHour === row.send_hour && g.weekday === weekday,
    );
    if (existing) existing.subscribers += count;
    else zone.groups.push({ digest, sendHour: row.send_hour, weekday, subscribers: count, next });
    const slot = zone[digest];
    if (!slot) zone[digest] = { next, subscribers: count };
    else {
      slot.subscribers += count;
      if (next < slot.next) slot.next = next;
    }
  }
  const soonest = (zone: DigestZone) =>
    Math.min(zone.daily?.next.getTime() ?? Infinity, zone.weekly?.next.getTime() ?? Infinity);
  for (const zone of zones.values())
    zone.groups.sort((a, b) => a.next.getTime() - b.next.getTime());
  return [...zones.values()].sort(
    (a, b) => soonest(a) - soonest(b) || a.timezone.localeCompare(b.timezone),
  );
}
