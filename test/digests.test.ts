// Digest periods and grouping (pure, injected instants).
import { describe, expect, it } from 'vitest';
import type { StoredArticle } from '../src/articles/schema.ts';
import { duePeriod, latestPeriod } from '../src/digests/period.ts';
import { digestTopics, groupDigests } from '../src/digests/plan.ts';

const paris = { digest: 'daily' as const, sendHour: 7, weekday: 1, timezone: 'Europe/Paris' };
const kolkataWeekly = {
  digest: 'weekly' as const,
  sendHour: 8,
  weekday: 1,
  timezone: 'Asia/Kolkata',
};

describe('duePeriod', () => {
  it('is due during the send hour in the subscriber’s zone, and only then', () => {
    const period = duePeriod(paris, new Date('2026-11-28T06:05:00Z')); // 07:05 CET
    expect(period).toEqual({
      start: new Date('2026-11-28T06:00:00Z'),
      previousStart: new Date('2026-11-27T06:00:00Z'),
      key: 'daily 2026-11-28',
    });
    expect(duePeriod(paris, new Date('2026-11-28T06:59:59Z'))?.key).toBe('daily 2026-11-28');
    expect(duePeriod(paris, new Date('2026-11-28T05:59:59Z'))).toBeNull();
    expect(duePeriod(paris, new Date('2026-11-28T07:00:00Z'))).toBeNull();
  });

  it('is due weekly on the chosen weekday only (half-hour zone)', () => {
    // Monday 30 Nov 2026, 08:10 IST.
    expect(duePeriod(kolkataWeekly, new Date('2026-11-30T02:40:00Z'))).toEqual({
      start: new Date('2026-11-30T02:30:00Z'),
      previousStart: new Date('2026-11-23T02:30:00Z'),
      key: 'weekly 2026-W49',
    });
    expect(duePeriod(kolkataWeekly, new Date('2026-12-01T02:40:00Z'))).toBeNull();
    expect(duePeriod({ ...kolkataWeekly, weekday: 2 }, new Date('2026-12-01T02:40:00Z'))?.key).toBe(
      'weekly 2026-W49',
    );
  });

  it('starts an hour skipped by DST when the clock resumes, a doubled one at its first', () => {
    const ny = { digest: 'daily' as const, sendHour: 2, weekday: 1, timezone: 'America/New_York' };
    // 8 Mar 2026: 02:00 EST jumps to 03:00 EDT (07:00Z).
    expect(duePeriod(ny, new Date('2026-03-08T07:10:00Z'))?.start).toEqual(
      new Date('2026-03-08T07:00:00Z'),
    );
    const early = { ...ny, sendHour: 1 };
    // 1 Nov 2026: 01:00 EDT (05:00Z) and again 01:00 EST (06:00Z); only the first hour is due.
    expect(duePeriod(early, new Date('2026-11-01T05:10:00Z'))?.start).toEqual(
      new Date('2026-11-01T05:00:00Z'),
    );
    expect(duePeriod(early, new Date('2026-11-01T06:10:00Z'))).toBeNull();
  });

  it('treats an unknown zone as UTC', () => {
    const lost = { ...paris, timezone: 'Not/A_Zone' };
    expect(duePeriod(lost, new Date('2026-11-28T07:05:00Z'))?.start).toEqual(
      new Date('2026-11-28T07:00:00Z'),
    );
  });
});

describe('latestPeriod', () => {
  it('is the last period started at or before the instant', () => {
    expect(latestPeriod(paris, new Date('2026-11-28T05:00:00Z')).key).toBe('daily 2026-11-27');
    expect(latestPeriod(kolkataWeekly, new Date('2026-11-28T05:00:00Z')).start).toEqual(
      new Date('2026-11-23T02:30:00Z'),
    );
  });
});

const article = (id: number, topics: string[]): StoredArticle => ({
  id,
  title: `Article ${id}`,
  paragraphs: ['Text.'],
  topics,
});

describe('groupDigests', () => {
  const start = new Date('2026-11-28T06:00:00Z');
  const shared = [article(3, ['climate', 'economy']), article(1, ['climate'])];

  it('puts subscribers with the same content in one group, compiled once', () => {
    const groups = groupDigests([
      {
        subscriberId: 1,
        frequency: 'daily',
        topics: ['climate'],
        articles: shared,
        periodStart: start,
      },
      {
        subscriberId: 2,
        frequency: 'daily',
        topics: ['climate'],
        articles: shared,
        periodStart: start,
      },
      {
        subscriberId: 3,
        frequency: 'daily',
        topics: ['climate', 'economy'],
        articles: shared,
        periodStart: start,
      },
      {
        subscriberId: 4,
        frequency: 'weekly',
        topics: ['climate'],
        articles: shared,
        periodStart: start,
      },
      { subscriberId: 5, frequency: 'daily', topics: ['china'], articles: [], periodStart: start },
    ]);
    expect(
      groups.map((g) => [g.topics, g.frequency, g.members.map((m) => m.subscriberId)]),
    ).toEqual([
      [['climate'], 'daily', [1, 2]],
      [['climate', 'economy'], 'daily', [3]],
      [['climate'], 'weekly', [4]],
    ]);
    expect(groups[0]!.articles.map((a) => a.id)).toEqual([3, 1]);
  });

  it('orders topic headings by their newest article', () => {
    const articles = [
      article(9, ['technology']),
      article(8, ['china', 'technology']),
      article(7, ['climate']),
    ];
    expect(digestTopics(['climate', 'china', 'technology'], articles)).toEqual([
      'technology',
      'china',
      'climate',
    ]);
  });
});
