// The pure parts of a batch (one send's outcome, the tally, the batch's end, the auto-pause
// rule), each tested without Redis, SMTP or a store.
import { describe, expect, it } from 'vitest';
import { type BatchEnd, decideBatchOutcome } from '../src/delivery/batch-outcome.ts';
import { autoPauseReason } from '../src/delivery/progress.ts';
import { type MessageOutcome, sendOne } from '../src/delivery/send-one.ts';
import { attemptsAndFailures, createTally, ledgerOutcome } from '../src/delivery/tally.ts';

/** An error shaped as nodemailer rejects with for an SMTP reply. */
function smtpError(responseCode: number, response: string) {
  return Object.assign(new Error(response), { responseCode, response });
}

describe('sendOne', () => {
  const message = { to: 'ana@example.test' };
  const cases: Array<{
    name: string;
    send: () => Promise<{ response: string }>;
    finalAttempt: boolean;
    expected: MessageOutcome;
  }> = [
    {
      name: 'accepted: sent with the server reply',
      send: async () => ({ response: '250 2.0.0 Ok: queued as 4F1' }),
      finalAttempt: false,
      expected: { status: 'sent', reply: '250 2.0.0 Ok: queued as 4F1' },
    },
    {
      name: '5xx: bounced, with its codes',
      send: async () =>
        Promise.reject(smtpError(550, '550 5.1.1 <ana@example.test>: no such user')),
      finalAttempt: false,
      expected: {
        status: 'bounced',
        reply: '550 5.1.1 <ana@example.test>: no such user',
        codes: { smtpCode: 550, enhancedStatus: '5.1.1' },
      },
    },
    {
      name: '4xx before the last attempt: temporary',
      send: async () => Promise.reject(smtpError(450, '450 4.2.0 greylisted')),
      finalAttempt: false,
      expected: {
        status: 'temporary',
        reply: '450 4.2.0 greylisted',
        codes: { smtpCode: 450, enhancedStatus: '4.2.0' },
      },
    },
    {
      name: '4xx on the last attempt: failed',
      send: async () => Promise.reject(smtpError(450, '450 4.2.0 greylisted')),
      finalAttempt: true,
      expected: {
        status: 'failed',
        reply: '450 4.2.0 greylisted',
        codes: { smtpCode: 450, enhancedStatus: '4.2.0' },
      },
    },
    {
      name: 'dropped connection: temporary, no codes',
      send: async () =>
        Promise.reject(Object.assign(new Error('socket closed'), { code: 'ECONNRESET' })),
      finalAttempt: false,
      expected: {
        status: 'temporary',
        reply: 'ECONNRESET: socket closed',
        codes: { smtpCode: null, enhancedStatus: null },
      },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      expect(await sendOne(c.send, message, c.finalAttempt)).toEqual(c.expected);
    });
  }

  it('hands the message itself to send', async () => {
    const seen: unknown[] = [];
    await sendOne(
      async (m) => {
        seen.push(m);
        return { response: '250 ok' };
      },
      message,
      false,
    );
    expect(seen).toEqual([message]);
  });

  it('keeps at most 500 characters of a long reply', async () => {
    const outcome = await sendOne(async () => ({ response: `250 ${'x'.repeat(600)}` }), {}, false);
    expect(outcome.reply).toHaveLength(500);
  });
});

describe('tally', () => {
  const codes450 = { smtpCode: 450, enhancedStatus: '4.2.0' };
  const codes550 = { smtpCode: 550, enhancedStatus: '5.1.1' };

  it('counts every kind in one place and keeps the last failure codes', () => {
    const tally = createTally();
    const outcomes: MessageOutcome[] = [
      { status: 'sent', reply: '250 ok' },
      { status: 'sent', reply: '250 ok' },
      { status: 'temporary', reply: '450', codes: codes450 },
      { status: 'bounced', reply: '550', codes: codes550 },
      { status: 'dropped', reply: null },
      { status: 'dropped', reply: 'held back: cap' },
      { status: 'failed', reply: '450', codes: codes450 },
      { status: 'sent', reply: '250 ok' },
    ];
    for (const outcome of outcomes) tally.add(outcome);
    const counts = tally.counts();
    expect(counts).toEqual({
      sent: 3,
      temporary: 1,
      failed: 1,
      bounced: 1,
      suppressed: 2,
      lastFailure: codes450,
    });
    expect(attemptsAndFailures(counts)).toEqual({ attempts: 6, failures: 3 });
  });

  it('starts at zero with no failure', () => {
    expect(createTally().counts()).toEqual({
      sent: 0,
      temporary: 0,
      failed: 0,
      bounced: 0,
      suppressed: 0,
      lastFailure: null,
    });
  });

  it('writes each outcome as its ledger row', () => {
    const table: Array<[MessageOutcome, ReturnType<typeof ledgerOutcome>]> = [
      [
        { status: 'sent', reply: '250 ok' },
        { subscriberId: 7, status: 'sent', reply: '250 ok', attempted: true },
      ],
      [
        { status: 'bounced', reply: '550', codes: codes550 },
        { subscriberId: 7, status: 'bounced', reply: '550', attempted: true },
      ],
      [
        { status: 'temporary', reply: '450', codes: codes450 },
        { subscriberId: 7, status: 'pending', reply: '450', attempted: true },
      ],
      [
        { status: 'failed', reply: '450', codes: codes450 },
        { subscriberId: 7, status: 'failed', reply: '450', attempted: true },
      ],
      [
        { status: 'dropped', reply: 'held back: quiet-hours' },
        {
          subscriberId: 7,
          status: 'suppressed',
          reply: 'held back: quiet-hours',
          attempted: false,
        },
      ],
    ];
    for (const [outcome, row] of table) expect(ledgerOutcome(7, outcome)).toEqual(row);
  });
});

describe('decideBatchOutcome', () => {
  const base: BatchEnd = {
    lockLost: false,
    stopping: false,
    halted: false,
    statusAfterHalt: undefined,
    temporary: 0,
  };
  const table: Array<[string, Partial<BatchEnd>, ReturnType<typeof decideBatchOutcome>]> = [
    ['every row has an outcome', {}, 'done'],
    ['temporary failures wait for a retry', { temporary: 3 }, 'retry'],
    ['shutting down hands the job back', { stopping: true, temporary: 3 }, 'stopped'],
    ['shutting down wins over a halt', { stopping: true, halted: true }, 'stopped'],
    ['paused mid-batch', { halted: true, statusAfterHalt: 'paused' }, 'halted'],
    ['cancelled mid-batch', { halted: true, statusAfterHalt: 'cancelled', temporary: 2 }, 'halted'],
    [
      'paused and resumed meanwhile: hand back',
      { halted: true, statusAfterHalt: 'sending' },
      'stopped',
    ],
    ['campaign gone mid-batch', { halted: true, statusAfterHalt: undefined }, 'halted'],
    ['job lock lost mid-batch', { lockLost: true, temporary: 2 }, 'lost'],
    ['a lost lock wins over shutting down', { lockLost: true, stopping: true }, 'lost'],
  ];
  for (const [name, end, expected] of table) {
    it(`${name} → ${expected}`, () => {
      expect(decideBatchOutcome({ ...base, ...end })).toBe(expected);
    });
  }
});

describe('auto-pause rule', () => {
  const policy = { ratio: 0.5, minSample: 20 };
  const table: Array<[string, { attempts: number; failures: number }, string | null]> = [
    ['too few attempts, all failed', { attempts: 19, failures: 19 }, null],
    ['enough attempts, below the ratio', { attempts: 100, failures: 49 }, null],
    [
      'exactly at the ratio',
      { attempts: 20, failures: 10 },
      'auto-paused: 50% of the last 20 attempts failed (threshold 50%)',
    ],
    [
      'above the ratio',
      { attempts: 40, failures: 31 },
      'auto-paused: 78% of the last 40 attempts failed (threshold 50%)',
    ],
    ['no failures', { attempts: 500, failures: 0 }, null],
  ];
  for (const [name, window, expected] of table) {
    it(name, () => {
      expect(autoPauseReason(window, policy)).toBe(expected);
    });
  }

  it('with a ratio of 1 pauses only when every attempt failed', () => {
    const all = { ratio: 1, minSample: 1 };
    expect(autoPauseReason({ attempts: 100, failures: 99 }, all)).toBe(null);
    expect(autoPauseReason({ attempts: 100, failures: 100 }, all)).toBe(
      'auto-paused: 100% of the last 100 attempts failed (threshold 100%)',
    );
  });
});
