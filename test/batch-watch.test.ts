// The batch watch over a plain-object port: no Redis, no store, fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type BatchWatchPort,
  type WatchedRecipient,
  watchBatch,
} from '../src/delivery/batch-watch.ts';

const timings = { statusPollMs: 250, blockedPollMs: 1_000, heartbeatMs: 20_000 };

/** A port whose answers the test sets, recording what the watch asked. */
function fakePort() {
  const state = {
    status: 'sending' as string | undefined,
    statusFails: false,
    blocked: new Set<number>(),
    heartbeatFails: false,
    heartbeats: 0,
    asked: [] as number[][],
  };
  const port: BatchWatchPort = {
    campaignStatus: async () => {
      if (state.statusFails) throw new Error('store away');
      return state.status;
    },
    blockedAmong: async (recipients) => {
      state.asked.push(recipients.map((r) => r.subscriberId));
      return recipients.map((r) => r.subscriberId).filter((id) => state.blocked.has(id));
    },
    touchClaim: async () => {
      state.heartbeats += 1;
      if (state.heartbeatFails) throw new Error('store away');
    },
  };
  return { port, state };
}

const recipients: WatchedRecipient[] = [
  { subscriberId: 1, email: 'a@example.test' },
  { subscriberId: 2, email: 'b@example.test' },
  { subscriberId: 3, email: 'c@example.test' },
];

describe('watchBatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('halts once the campaign leaves sending, not before', async () => {
    const { port, state } = fakePort();
    const watch = watchBatch(port, () => recipients, timings);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(watch.halted()).toBe(false);
    state.status = 'paused';
    await vi.advanceTimersByTimeAsync(250);
    expect(watch.halted()).toBe(true);
    watch.stop();
  });

  it('halts when the campaign is gone, but not when reading its status fails', async () => {
    const failing = fakePort();
    failing.state.statusFails = true;
    const unread = watchBatch(failing.port, () => [], timings);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(unread.halted()).toBe(false);
    unread.stop();

    const gone = fakePort();
    gone.state.status = undefined;
    const watch = watchBatch(gone.port, () => [], timings);
    await vi.advanceTimersByTimeAsync(250);
    expect(watch.halted()).toBe(true);
    watch.stop();
  });

  it('marks the remaining recipients the port reports blocked, and asks only for those remaining', async () => {
    const { port, state } = fakePort();
    let remaining = recipients;
    const watch = watchBatch(port, () => remaining, timings);
    state.blocked.add(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(watch.blocked(2)).toBe(true);
    expect(watch.blocked(1)).toBe(false);
    expect(state.asked).toEqual([[1, 2, 3]]);
    remaining = [];
    await vi.advanceTimersByTimeAsync(1_000);
    expect(state.asked).toHaveLength(1);
    watch.stop();
  });

  it('renews the claim every heartbeat and halts when a heartbeat fails', async () => {
    const { port, state } = fakePort();
    const watch = watchBatch(port, () => [], timings);
    await vi.advanceTimersByTimeAsync(40_000);
    expect(state.heartbeats).toBe(2);
    expect(watch.halted()).toBe(false);
    state.heartbeatFails = true;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(watch.halted()).toBe(true);
    watch.stop();
  });

  it('asks nothing more once stopped', async () => {
    const { port, state } = fakePort();
    const watch = watchBatch(port, () => recipients, timings);
    watch.stop();
    state.status = 'paused';
    await vi.advanceTimersByTimeAsync(60_000);
    expect(state.heartbeats).toBe(0);
    expect(state.asked).toEqual([]);
    expect(watch.halted()).toBe(false);
  });
});
