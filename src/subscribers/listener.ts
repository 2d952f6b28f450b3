// The inbound SMTP listener for the VERP bounce address (bounces+TOKEN@domain) and the
// mailto one-click address (unsubscribe+TOKEN@domain), on its own port (BOUNCE_SMTP_PORT).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Store } from '../store/db.ts';
import { verifySubscriberToken } from '../tokens/subject.ts';
import { ingestReport, MAX_REPORT_BYTES } from './bounces.ts';
import { unsubscribe } from './events.ts';

/** What the listener reads: a structural slice of the App (src/app.ts sits above subscribers). */
export interface BounceListenerParts {
  config: Config;
  logger: Logger;
  store: Pick<Store, 'db'>;
}

export interface BounceListener {
  port: number;
  stop(): Promise<void>;
}

/** The token in a local part `prefix+TOKEN`, or null. */
function tokenOf(address: string, prefix: string): string | null {
  const local = address.slice(0, address.lastIndexOf('@'));
  return local.toLowerCase().startsWith(`${prefix}+`) ? local.slice(prefix.length + 1) : null;
}

/**
 * Starts the listener on BOUNCE_SMTP_PORT (or `port`, 0 for any free port). Every accepted
 * message is answered 250 even when it cannot be read (a rejection would only bounce back
 * to the reporting server); unreadable reports are logged as bounces.report.unreadable.
 */
export async function startBounceListener(
  app: BounceListenerParts,
  options: { port?: number; host?: string } = {},
): Promise<BounceListener> {
  const port = options.port ?? app.config.BOUNCE_SMTP_PORT ?? 0;
  const log = app.logger.child({ component: 'bounce-listener' });
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: MAX_REPORT_BYTES,
    banner: 'Herald bounce listener',
    logger: false,
    // Any recipient is accepted: feedback loops post ARF to a plain address, and the token
    // that names the subscriber is looked for inside the report as well as in RCPT TO.
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error) => callback(error));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          return callback(Object.assign(new Error('message too large'), { responseCode: 552 }));
        }
        const raw = Buffer.concat(chunks);
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        handleMessage(app, raw, recipients)
          .then(() => callback())
          .catch((error: unknown) => {
            log.error({ err: error }, 'bounces.listener.failed');
            callback(Object.assign(new Error('try again later'), { responseCode: 451 }));
          });
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host ?? app.config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.error({ err: error }, 'bounces.listener.error'));
  const bound = (server.server.address() as AddressInfo).port;
  log.info({ port: bound }, 'bounces.listener.started');
  return {
    port: bound,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Applies one inbound message: a mailto unsubscribe, or a bounce/complaint report. */
async function handleMessage(
  app: BounceListenerParts,
  raw: Buffer,
  recipients: string[],
): Promise<void> {
  const log = app.logger.child({ component: 'bounce-listener' });
  const secret = app.config.HERALD_SECRET;
  for (const to of recipients) {
    const token = tokenOf(to, 'unsubscribe');
    if (token === null) continue;
    const verified = await verifySubscriberToken(app.store.db, secret, 'unsubscribe', token);
    if (!verified.ok) {
      log.warn({ reason: verified.reason }, 'unsubscribe.mailto.rejected');
      continue;
    }
    await unsubscribe(app.store.db, verified.claims.subscriberId, {
      campaignId: verified.claims.campaignId ?? null,
    });
    log.info(
      { subscriberId: verified.claims.subscriberId, campaignId: verified.claims.campaignId },
      'unsubscribe.mailto.applied',
    );
  }
  const envelopeTokens = recipients
    .map((to) => tokenOf(to, 'bounces'))
    .filter((t): t is string => t !== null);
  if (
    envelopeTokens.length === 0 &&
    recipients.every((to) => tokenOf(to, 'unsubscribe') !== null)
  ) {
    return;
  }
  const result = await ingestReport(app.store.db, raw, {
    secret,
    envelopeTokens,
    softBounceLimit: app.config.SOFT_BOUNCE_LIMIT,
    softBounceWindowDays: app.config.SOFT_BOUNCE_WINDOW_DAYS,
  });
  if (result.ok) {
    log.info(
      {
        subscriberId: result.subscriberId,
        campaignId: result.campaignId,
        kind: result.kind,
        outcome: result.outcome,
      },
      'bounces.report.applied',
    );
  } else {
    log.warn({ reason: result.reason }, 'bounces.report.unreadable');
  }
}
