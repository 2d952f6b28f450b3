// Where built messages go: a pooled SMTP connection (SMTP_URL) or the outbox directory of
// .eml files (the embedded default). Both take the same pre-built raw message + envelope.
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Config } from '../../config/index.ts';
import { envelopeHeaders } from '../../ops/outbox.ts';
import { senderParts } from '../message.ts';
import { smtpSendSeconds } from '../../delivery/metrics.ts';

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
  /** Ends idle SMTP sessions with QUIT, then closes; resolves once they have ended. */
  close(): Promise<void>;
}

type TransportConfig = Pick<
  Config,
  'SMTP_URL' | 'SMTP_POOL_SIZE' | 'SMTP_EHLO_NAME' | 'MAIL_FROM' | 'outboxDir'
>;

/** Creates the transport the config names: SMTP when SMTP_URL is set, else the outbox. */
export function createTransport(config: TransportConfig): MailTransport {
  return config.SMTP_URL
    ? createSmtpTransport(config.SMTP_URL, config.SMTP_POOL_SIZE, ehloName(config))
    : createOutboxTransport(config.outboxDir);
}

/** A name fit for EHLO: a dotted host name, not an IP literal. */
function isHostName(name: string): boolean {
  return name.includes('.') && isIP(name) === 0 && /^[A-Za-z0-9.-]+$/.test(name);
}

/**
 * The EHLO name: SMTP_EHLO_NAME, else the MAIL_FROM domain, else the machine's name when it is
 * fully qualified. Never a bare address literal, which strict receivers refuse.
 */
export function ehloName(
  config: Pick<Config, 'SMTP_EHLO_NAME' | 'MAIL_FROM'>,
  machine: string = hostname(),
): string {
  if (config.SMTP_EHLO_NAME) return config.SMTP_EHLO_NAME;
  const { domain } = senderParts(config.MAIL_FROM);
  if (isHostName(domain)) return domain;
  return isHostName(machine) ? machine : 'localhost.localdomain';
}

/**
 * Pooled connections left idle this long end with QUIT. Shorter than `socketTimeout`, which
 * would otherwise destroy the socket first and leave the server logging a lost connection.
 */
export const SMTP_IDLE_MS = 5_000;
const SMTP_SOCKET_TIMEOUT_MS = 30_000;
/** How long close() waits for a server to answer QUIT. */
const QUIT_WAIT_MS = 2_000;

/** The parts of nodemailer's pool that close() reaches into (not in its typings). */
interface PoolInternals {
  _connections?: Array<{
    available: boolean;
    connection?: { quit(): void; once(event: 'end', listener: () => void): void };
  }>;
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

function createSmtpTransport(url: string, poolSize: number, name: string): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    name,
    pool: true,
    maxConnections: poolSize,
    maxMessages: Number.POSITIVE_INFINITY,
    idleTimeout: SMTP_IDLE_MS,
    // A stuck server must not hold a batch forever.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: SMTP_SOCKET_TIMEOUT_MS,
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
    async close() {
      // nodemailer's pool.close() drops idle sockets without QUIT: say goodbye first.
      const pool = (transporter as unknown as { transporter: PoolInternals }).transporter;
      // A connection that has just handed over a message turns available a moment later.
      const settled = Date.now() + QUIT_WAIT_MS;
      while ((pool._connections ?? []).some((r) => !r.available) && Date.now() < settled) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const idle = (pool._connections ?? []).filter((r) => r.available && r.connection);
      await Promise.all(
        idle.map(
          (resource) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, QUIT_WAIT_MS);
              resource.available = false;
              resource.connection!.once('end', () => {
                clearTimeout(timer);
                resolve();
              });
              resource.connection!.quit();
            }),
        ),
      );
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
    async close() {},
  };
}
