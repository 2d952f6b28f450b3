// SEND_RATE: one token bucket in Redis shared by every worker process.
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export interface SendLimiter {
  /** Resolves when one more message may be sent under the shared rate. */
  take(): Promise<void>;
}

/** A Redis-wide limiter for `ratePerSecond` messages per second, or null when unlimited. */
export function createSendLimiter(
  redis: Redis,
  prefix: string,
  ratePerSecond: number | undefined,
): SendLimiter | null {
  if (ratePerSecond === undefined) return null;
  // Whole points per whole seconds: 0.5/s becomes 1 per 2 s, 2.5/s becomes 5 per 2 s.
  const duration =
    ratePerSecond >= 1 && Number.isInteger(ratePerSecond)
      ? 1
      : ratePerSecond >= 1
        ? 2
        : Math.round(1 / ratePerSecond);
  const points = Math.max(1, Math.round(ratePerSecond * duration));
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:send-rate`,
    points,
    duration,
  });
  return {
    async take() {
      for (;;) {
        try {
          await limiter.consume('all', 1);
          return;
        } catch (error) {
          if (!(error instanceof RateLimiterRes)) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.max(5, error.msBeforeNext)));
        }
      }
    },
  };
}
