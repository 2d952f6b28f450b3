// The one place a mail transport is chosen: MAIL_TRANSPORT, or (unset) SMTP when SMTP_URL is
// set and the outbox otherwise. Adding a transport: one file in transports/, one value of
// MAIL_TRANSPORT in src/config, one line here.
import type { Config } from '../config/index.ts';
import type { MailTransport } from './transport.ts';
import { createOutboxTransport } from './transports/outbox.ts';
import { createSesTransport } from './transports/ses.ts';
import { createSmtpTransport, type SmtpTransportConfig } from './transports/smtp.ts';

export type MailTransportConfig = SmtpTransportConfig &
  Pick<Config, 'mailTransport' | 'SMTP_URL' | 'outboxDir' | 'ses'>;

/** Creates the transport the config names; each call opens its own (close it when done). */
export function createMailTransport(config: MailTransportConfig): MailTransport {
  switch (config.mailTransport) {
    case 'smtp':
      // parseConfig guarantees SMTP_URL when the transport is smtp.
      return createSmtpTransport(config.SMTP_URL!, config);
    case 'outbox':
      return createOutboxTransport(config.outboxDir);
    case 'ses':
      // parseConfig fills `ses` when the transport is ses.
      return createSesTransport(config.ses!);
  }
}
