// The SMTP transport: a pooled nodemailer connection (SMTP_URL) pushing pre-built raw messages
// with their envelope. Failures reject as MailSendError, classified by the reply code.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Config } from '../../config/index.ts';
import { senderParts } from '../message.ts';
import { timedSend } from '../metrics.ts';
import { toMailSendError } from '../smtp-reply.ts';
import type { MailTransport } from '../transport.ts';

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

/** The SMTP settings the transport reads. */
export type SmtpTransportConfig = Pick<Config, 'SMTP_POOL_SIZE' | 'SMTP_EHLO_NAME' | 'MAIL_FROM'>;

/** Opens a pooled SMTP transport to `url`; connections open on the first send or verify. */
export function createSmtpTransport(url: string, config: SmtpTransportConfig): MailTransport {
  const poolSize = config.SMTP_POOL_SIZE;
  const name = ehloName(config);
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
    name: 'smtp',
    label: 'SMTP_URL',
    // Two per connection: one on the wire, one queued in the pool, so no connection waits on
    // the batch to hand it the next message.
    concurrency: Math.max(1, poolSize * 2),
    send: (message) =>
      timedSend(async () => {
        try {
          const info = await transporter.sendMail({ envelope: message.envelope, raw: message.raw });
          return { response: info.response };
        } catch (error) {
          throw toMailSendError(error);
        }
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
