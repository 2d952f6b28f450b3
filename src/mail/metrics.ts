// Mail metrics kept by the process that sends (prom-client's default registry).
import { Histogram, register } from 'prom-client';

/** Seconds one hand-over to the transport took, by outcome (all transports report here). */
export const smtpSendSeconds =
  (register.getSingleMetric('herald_smtp_send_seconds') as Histogram<'outcome'> | undefined) ??
  new Histogram({
    name: 'herald_smtp_send_seconds',
    help: 'Time to hand one message to the SMTP server, the outbox or the mail API',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });

/** Runs one send under the histogram, labelled ok or error. */
export function timedSend<T>(work: () => Promise<T>): Promise<T> {
  const stop = smtpSendSeconds.startTimer();
  return work().then(
    (result) => {
      stop({ outcome: 'ok' });
      return result;
    },
    (error: unknown) => {
      stop({ outcome: 'error' });
      throw error;
    },
  );
}
