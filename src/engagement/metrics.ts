// Engagement counters (prom-client's default registry, merged into /metrics by src/ops).
import { Counter, register } from 'prom-client';

function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

/** Tracked-link clicks recorded (after the subscriber's key checked out). */
export const clicksTotal = once(
  'herald_clicks_total',
  () => new Counter({ name: 'herald_clicks_total', help: 'Tracked-link clicks recorded' }),
);

/** Opens recorded, by kind: open (a reader) or machine-open (proxy or prefetch). */
export const opensTotal = once(
  'herald_opens_total',
  () =>
    new Counter({
      name: 'herald_opens_total',
      help: 'Tracking-image opens recorded, by kind (open, machine-open)',
      labelNames: ['kind'] as const,
    }),
);

/** Events dropped because the in-process buffer was full (the store not keeping up). */
export const engagementDroppedTotal = once(
  'herald_engagement_dropped_total',
  () =>
    new Counter({
      name: 'herald_engagement_dropped_total',
      help: 'Engagement events dropped because the buffer was full',
    }),
);
