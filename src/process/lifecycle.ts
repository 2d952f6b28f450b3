// Runs long-lived parts (HTTP server, workers) until SIGTERM/SIGINT, then stops them in order.
import type { App } from '../app.ts';
import { senderWarnings } from '../mail/sender-checks.ts';

export interface Service {
  name: string;
  /** Stops taking work, finishes or hands back what is in flight. */
  stop(): Promise<void>;
}

/**
 * Resolves after a signal arrived and every service and the app have stopped. `senderChecks`
 * (default on) logs the sender warnings; a delivery child leaves them to its parent.
 */
export function runUntilSignal(
  app: App,
  services: Service[],
  options: { senderChecks?: boolean } = {},
): Promise<void> {
  // Said once at start, where ops look: settings that hurt delivery or one-click unsubscribe.
  const warnings = options.senderChecks === false ? [] : senderWarnings(app.config);
  for (const warning of warnings) {
    app.logger.warn({ check: warning.check, reason: warning.message }, 'sender.check.warning');
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = async (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'process.stopping');
      for (const service of [...services].reverse()) {
        try {
          await service.stop();
        } catch (error) {
          app.logger.error({ err: error, service: service.name }, 'process.stop.failed');
        }
      }
      await app.close();
      app.logger.info('process.stopped');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
