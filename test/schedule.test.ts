// Local-time planning (pure, injected instants): passed times, half-hour zones, DST gaps and
// overlaps, unknown zones, grouping an audience page by due instant.
import { describe, expect, it } from 'vitest';
import {
  firstLocalOccurrence,
  nextLocalOccurrence,
  parseLocalTime,
  planLocalTime,
  resolveAt,
} from '../src/campaigns/schedule.ts';
import { groupByDue } from '../src/delivery/fanout.ts';

const seven = { hour: 7, minute: 0 };
const iso = (date: Date) => date.toISOString();

describe('parseLocalTime', () => {
  it('reads 24-hour HH:MM and refuses anything else', () => {
    expect(parseLocalTime('07:00')).toEqual({ hour: 7, minute: 0 });
    expect(parseLocalTime('23:59')).toEqual({ hour: 23, minute: 59 });
    for (const bad of ['7:00', '24:00', '07:60', '0700', 'noon', '', '07:00:00'])
      expect(parseLocalTime(bad)).toBeNull();
  });
});

describe('nextLocalOccurrence', () => {
  it('is today when the time is still ahead in the zone (half-hour offset)', () => {
    // 00:00Z is 05:30 in Kolkata; 07:00 there is 01:30Z.
    const at = nextLocalOccurrence(seven, 'Asia/Kolkata', new Date('2026-11-28T00:00:00Z'));
    expect(iso(at)).toBe('2026-11-28T01:30:00.000Z');
  });

  it('is tomorrow when the time has already passed today in the zone', () => {
    const at = nextLocalOccurrence(seven, 'Asia/Kolkata', new Date('2026-11-28T02:00:00Z'));
    expect(iso(at)).toBe('2026-11-29T01:30:00.000Z');
  });

  it('is the scheduling instant itself when the clock reads the time exactly', () => {
    const from = new Date('2026-11-28T07:00:00Z');
    expect(iso(nextLocalOccurrence(seven, 'Europe/London', from))).toBe(iso(from));
  });

  it('keeps the wall-clock time across a DST change between planning and sending', () => {
    // 08:00 EDT on 31 Oct (07:00 passed); DST ends at 02:00 on 1 Nov: 07:00 EST is 12:00Z,
    // not 11:00Z as adding 24 hours would give.
    const at = nextLocalOccurrence(seven, 'America/New_York', new Date('2026-10-31T12:00:00Z'));
    expect(iso(at)).toBe('2026-11-01T12:00:00.000Z');
  });

  it('sends a time skipped by spring-forward the gap’s length later (02:30 → 03:30)', () => {
    const at = nextLocalOccurrence(
      { hour: 2, minute: 30 },
      'America/New_York',
      new Date('2026-03-08T05:00:00Z'), // 00:00 EST
    );
    expect(iso(at)).toBe('2026-03-08T07:30:00.000Z'); // 03:30 EDT
  });

  it('sends a time that occurs twice at its first occurrence', () => {
    const time = { hour: 1, minute: 30 };
    const midnight = new Date('2026-11-01T04:00:00Z'); // 00:00 EDT
    expect(iso(nextLocalOccurrence(time, 'America/New_York', midnight))).toBe(
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
    );
    // Planned between the two: the second one (01:30 EST) is the next time the clock reads it.
    expect(
      iso(nextLocalOccurrence(time, 'America/New_York', new Date('2026-11-01T05:45:00Z'))),
    ).toBe('2026-11-01T06:30:00.000Z');
  });

  it('plans an unknown stored zone in UTC', () => {
    const from = new Date('2026-11-28T00:00:00Z');
    expect(iso(nextLocalOccurrence(seven, 'Mars/Olympus_Mons', from))).toBe(
      '2026-11-28T07:00:00.000Z',
    );
  });
});

describe('planLocalTime across zones', () => {
  it('gives each zone its own instant and starts with the earliest', () => {
    const from = new Date('2026-10-31T20:00:00Z');
    const zones = ['Asia/Kolkata', 'Europe/London', 'America/New_York'];
    const plan = planLocalTime(seven, zones, from);
    expect(Object.fromEntries([...plan].map(([zone, at]) => [zone, iso(at)]))).toEqual({
      'Asia/Kolkata': '2026-11-01T01:30:00.000Z',
      'Europe/London': '2026-11-01T07:00:00.000Z',
      'America/New_York': '2026-11-01T12:00:00.000Z',
    });
    expect(iso(firstLocalOccurrence(seven, zones, from))).toBe('2026-11-01T01:30:00.000Z');
    expect(iso(firstLocalOccurrence(seven, [], from))).toBe('2026-11-01T07:00:00.000Z');
  });
});

describe('resolveAt', () => {
  it('reads instants with an offset, local date-times with a zone, and refuses the rest', () => {
    expect(iso(resolveAt('2026-12-01T07:00:00Z')!)).toBe('2026-12-01T07:00:00.000Z');
    expect(iso(resolveAt('2026-12-01T07:00:00+05:30')!)).toBe('2026-12-01T01:30:00.000Z');
    expect(iso(resolveAt('2026-12-01T07:00', 'Europe/Paris')!)).toBe('2026-12-01T06:00:00.000Z');
    expect(resolveAt('2026-12-01T07:00')).toBeNull();
    expect(resolveAt('tomorrow')).toBeNull();
    expect(resolveAt('2026-13-01T07:00:00Z')).toBeNull();
  });
});

describe('groupByDue', () => {
  const members = [
    { subscriberId: 1, timezone: 'Asia/Kolkata', suppressed: false },
    { subscriberId: 2, timezone: 'America/New_York', suppressed: false },
    { subscriberId: 3, timezone: 'Asia/Kolkata', suppressed: true },
    { subscriberId: 4, timezone: 'Europe/London', suppressed: false },
  ];

  it('puts one due instant per group for a local-time campaign, planned from its anchor', () => {
    const groups = groupByDue(
      { localTime: '07:00', scheduledAt: '2026-11-01T01:30:00.000Z', startedAt: null },
      members,
      new Date('2026-11-01T01:30:00.200Z'),
    );
    expect(
      Object.fromEntries([...groups].map(([due, list]) => [due, list.map((m) => m.subscriberId)])),
    ).toEqual({
      '2026-11-01T01:30:00.000Z': [1, 3],
      '2026-11-01T12:00:00.000Z': [2],
      '2026-11-01T07:00:00.000Z': [4],
    });
  });

  it('keeps one group due at once otherwise', () => {
    const now = new Date('2026-11-01T01:30:00.200Z');
    const groups = groupByDue(
      { localTime: null, scheduledAt: null, startedAt: null },
      members,
      now,
    );
    expect([...groups.keys()]).toEqual([null]);
    expect(groups.get(null)).toHaveLength(4);
    const started = { localTime: null, scheduledAt: '2026-11-01T01:30:00.000Z', startedAt: null };
    expect([...groupByDue(started, members, now).keys()]).toEqual([null]);
  });

  it('holds a campaign resumed before its scheduled instant until that instant', () => {
    const groups = groupByDue(
      { localTime: null, scheduledAt: '2026-11-01T09:00:00.000Z', startedAt: null },
      members,
      new Date('2026-11-01T08:00:00Z'),
    );
    expect([...groups.keys()]).toEqual(['2026-11-01T09:00:00.000Z']);
  });
});
