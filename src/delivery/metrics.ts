// Delivery metrics kept by the process that sends (prom-client's default registry).
import { Counter, Histogram, register } from 'prom-client';

function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

/** Seconds one SMTP (or outbox) hand-over took, by outcome. */
export const smtpSendSeconds = once(
  'herald_smtp_send_seconds',
  () =>
    new Histogram({
      name: 'herald_smtp_send_seconds',
      help: 'Time to hand one message to the SMTP server or the outbox',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
);

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
