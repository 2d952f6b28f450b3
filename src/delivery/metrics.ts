// Delivery metrics kept by the process that sends (prom-client's default registry).
import { Counter, register } from 'prom-client';

function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

/** Messages by campaign kind and ledger outcome, as recorded by this process. */
export const messagesTotal = once(
  'herald_messages_total',
  () =>
    new Counter({
      name: 'herald_messages_total',
      help: 'Messages handled by this process, by campaign kind and outcome',
      labelNames: ['kind', 'status'] as const,
    }),
);
