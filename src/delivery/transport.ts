// Where built messages go: a pooled SMTP connection (SMTP_URL) or the outbox directory of
// .eml files (the embedded default). Both take the same pre-built raw message + envelope.
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Config } from '../config/index.ts';
import { envelopeHeaders } from '../ops/outbox.ts';
import { smtpSendSeconds } from './metrics.ts';

export interface OutgoingMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer | string;
  messageId?: string;
}

export interface MailTransport {
  kind: 'smtp' | 'outbox';
  /** Hands one message over; resolves with the server's reply, rejects with its error. */
  send(message: OutgoingMessage): Promise<{ response: string }>;
  /** Checks that the transport can accept mail (SMTP: connect and greet). */
  verify(): Promise<void>;
  close(): void;
}

/** Creates the transport the config names: SMTP when SMTP_URL is set, else the outbox. */
export function createTransport(
  config: Pick<Config, 'SMTP_URL' | 'SMTP_POOL_SIZE' | 'outboxDir'>,
): MailTransport {
  return config.SMTP_URL
    ? createSmtpTransport(config.SMTP_URL, config.SMTP_POOL_SIZE)
    : createOutboxTransport(config.outboxDir);
}

function timed<T>(work: () => Promise<T>): Promise<T> {
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

function createSmtpTransport(url: string, poolSize: number): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    pool: true,
    maxConnections: poolSize,
    maxMessages: Number.POSITIVE_INFINITY,
    // A stuck server must not hold a batch forever.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  } satisfies SMTPPool.Options);
  return {
    kind: 'smtp',
    send: (message) =>
      timed(async () => {
        const info = await transporter.sendMail({ envelope: message.envelope, raw: message.raw });
        return { response: info.response };
      }),
    async verify() {
      await transporter.verify();
    },
    close() {
      transporter.close();
    },
  };
}

function createOutboxTransport(outboxDir: string): MailTransport {
  mkdirSync(outboxDir, { recursive: true });
  return {
    kind: 'outbox',
    send: (message) =>
      timed(async () => {
        const id = (message.messageId ?? randomUUID()).replace(/[^A-Za-z0-9._-]/g, '_');
        const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${id}.eml`;
        // Write then rename: a reader of the outbox never sees half a message.
        const temporary = join(outboxDir, `.${name}.tmp`);
        // Keep the envelope (VERP sender, recipients) as a delivering server would.
        writeFileSync(
          temporary,
          Buffer.concat([Buffer.from(envelopeHeaders(message.envelope)), Buffer.from(message.raw)]),
        );
        renameSync(temporary, join(outboxDir, name));
        return { response: `250 stored in outbox as ${name}` };
      }),
    async verify() {
      mkdirSync(outboxDir, { recursive: true });
    },
    close() {},
  };
}
