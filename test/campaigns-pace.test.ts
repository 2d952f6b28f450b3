// The console's campaign figures as pure functions: progress share, rate and time left, the
// sends-over-time bars, failure reasons grouped with addresses masked, length advice.
import { describe, expect, it } from 'vitest';
import { lengthAdvice } from '../src/campaigns/edit.ts';
import { formatDuration, groupReasons, paceOf, sendBars } from '../src/campaigns/pace.ts';

describe('campaign pace and report figures', () => {
  it('computes the settled share, rate, time left and duration from counts and instants', () => {
    const counts = { total: 1000, sent: 300, failed: 5, bounced: 15, suppressed: 80, pending: 600 };
    const pace = paceOf(
      counts,
      '2026-12-01T07:00:00.000Z',
      null,
      new Date('2026-12-01T07:03:00.000Z'),
    );
    expect(pace).toEqual({
      percentDone: 40,
      perMinute: 100,
      secondsLeft: 360,
      durationSeconds: 180,
    });
    expect(paceOf(counts, null, null, new Date())).toMatchObject({ perMinute: null });
    expect(formatDuration(360)).toBe('6 min 00 s');
    expect(formatDuration(7_500)).toBe('2 h 05 min');
    expect(formatDuration(null)).toBe('—');
  });

  it('groups minutes into at most N equal bars, keeping empty spans', () => {
    const bars = sendBars(
      [
        { minute: '2026-12-01T07:00', sent: 10 },
        { minute: '2026-12-01T07:01', sent: 30 },
        { minute: '2026-12-01T07:05', sent: 20 },
      ],
      3,
    );
    expect(bars).toEqual([
      { from: '2026-12-01T07:00', sent: 40, percent: 100 },
      { from: '2026-12-01T07:02', sent: 0, percent: 0 },
      { from: '2026-12-01T07:04', sent: 20, percent: 50 },
    ]);
    expect(sendBars([])).toEqual([]);
  });

  it('masks addresses in replies so one reason is one group, most common first', () => {
    const groups = groupReasons([
      { status: 'bounced', reply: '550 5.1.1 <a@example.org>: user unknown', count: 2 },
      { status: 'bounced', reply: '550 5.1.1 <b.c@example.net>: user unknown', count: 3 },
      { status: 'failed', reply: '451 try later', count: 1 },
      { status: 'failed', reply: '', count: 1 },
    ]);
    expect(groups).toEqual([
      { status: 'bounced', reason: '550 5.1.1 <‹address›>: user unknown', count: 5 },
      { status: 'failed', reason: '451 try later', count: 1 },
      { status: 'failed', reason: '(no reply recorded)', count: 1 },
    ]);
  });

  it('warns about long subjects and preheaders, never for short ones', () => {
    expect(lengthAdvice('Short subject', 'Short preheader')).toEqual({
      subject: null,
      preheader: null,
    });
    const advice = lengthAdvice('s'.repeat(61), 'p'.repeat(91));
    expect(advice.subject).toMatch(/^61 characters: inboxes often cut subjects after about 60/);
    expect(advice.preheader).toMatch(/^91 characters/);
    // Characters as people count them: an emoji is one.
    expect(lengthAdvice('😀'.repeat(60), '').subject).toBeNull();
  });
});
