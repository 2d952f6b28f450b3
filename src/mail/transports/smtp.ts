// The SMTP transport: a pooled nodemailer connection (SMTP_URL) pushing pre-built raw messages
// with their envelope. Failures reject as MailSendError, classified by the reply code.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Config } from '../../config/index.ts';
import { isWireReady, senderParts } from '../message.ts';
import { timedSend } from '../metrics.ts';
import { toMailSendError } from '../smtp-reply.ts';
import type { MailTransport, OutgoingMessage } from '../transport.ts';

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

/** The DATA stream nodemailer's connection makes per message (smtp-connection/data-stream). */
interface DataStreamInternals {
  _transform(chunk: unknown, encoding: BufferEncoding, done: (error?: Error | null) => void): void;
  push(chunk: Buffer): boolean;
  lastByte: number | false;
  inByteCount: number;
  outByteCount: number;
}

/** The parts of a pooled SMTP connection that quit and the DATA fast path reach into. */
interface ConnectionInternals {
  quit(): void;
  once(event: 'end', listener: () => void): void;
  _createSendStream(callback: unknown): DataStreamInternals;
}

/** The parts of nodemailer's pool that close() and send reach into (not in its typings). */
interface PoolInternals {
  _connections?: Array<{
    available: boolean;
    connection?: ConnectionInternals;
  }>;
  send(
    mail: PooledMail,
    callback: (error: Error | null, info?: { response: string }) => void,
  ): void;
}

/**
 * The one shape nodemailer's pool reads from a message (smtp-pool/index.js and
 * pool-resource.js: the envelope, the Message-ID for its logs, a fresh stream of the bytes).
 */
interface PooledMail {
  data: Record<string, never>;
  message: {
    getEnvelope(): { from: string; to: string[] };
    messageId(): string;
    getHeader(key: string): string | undefined;
    createReadStream(): MessageStream;
  };
}

/** What the pool's connection reads of a message stream (smtp-connection send, pool-resource). */
interface MessageStream {
  /** Whether the connection started reading (the pool re-queues a message it did not). */
  readableDidRead: boolean;
  on(event: string, listener: (...args: unknown[]) => void): MessageStream;
  pipe<Target extends NodeJS.WritableStream>(target: Target): Target;
  destroy(): void;
}

/**
 * The message as one chunk, handed to the connection's DATA stream when it pipes: all the
 * connection asks of a stream, without a Readable's per-message machinery (Readable.from
 * walks an async iterator over several ticks for a single buffer).
 */
function messageStream(raw: Buffer | string): MessageStream {
  const stream: MessageStream = {
    readableDidRead: false,
    on: () => stream,
    pipe(target) {
      stream.readableDidRead = true;
      target.end(raw);
      return target;
    },
    destroy() {},
  };
  return stream;
}

/**
 * A pre-built message as the pool takes it. `sendMail({raw})` would first run nodemailer's
 * message compiler on it (a MailComposer and MimeNode, a random boundary, and a stream stage
 * rewriting every line ending of a message whose lines already end in CRLF), about a third of
 * the sending CPU on a 36 kB newsletter; the pool itself still dot-stuffs and sends the bytes.
 * Each createReadStream() is a new stream, as the pool asks again when it re-queues a message
 * a dropped connection never started.
 */
function pooledMail(message: OutgoingMessage): PooledMail {
  const envelope = message.envelope;
  const messageId = message.messageId ?? '';
  return {
    data: {},
    message: {
      getEnvelope: () => ({ from: envelope.from, to: [...envelope.to] }),
      messageId: () => messageId,
      getHeader: (key) => (key.toLowerCase() === 'message-id' ? messageId : undefined),
      createReadStream: () => messageStream(message.raw),
    },
  };
}

const fastConnections = new WeakSet<ConnectionInternals>();

/**
 * Lets a connection send a wire-ready message (isWireReady: CRLF line ends only, no line
 * starting with a dot) straight to the socket. nodemailer's DATA stream otherwise walks every
 * byte in JavaScript to dot-stuff and repair line ends, which such a message never needs:
 * about 280 µs of CPU per 38 kB message, more than half of what the pool spends on it. Any
 * other chunk (a message built elsewhere, a stream split in pieces) takes nodemailer's path.
 */
function sendWireReadyAsIs(connection: ConnectionInternals): void {
  if (fastConnections.has(connection)) return;
  fastConnections.add(connection);
  const createSendStream = connection._createSendStream;
  connection._createSendStream = function (this: ConnectionInternals, callback) {
    const stream = createSendStream.call(this, callback);
    const stuff = stream._transform;
    stream._transform = (chunk, encoding, done) => {
      if (stream.lastByte !== false || !Buffer.isBuffer(chunk) || !isWireReady(chunk)) {
        stuff.call(stream, chunk, encoding, done);
        return;
      }
      stream.inByteCount += chunk.length;
      stream.outByteCount += chunk.length;
      // DataStream's end marker reads the last byte: a wire-ready message ends in CRLF.
      stream.lastByte = chunk[chunk.length - 1]!;
      stream.push(chunk);
      done();
    };
    return stream;
  };
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
  const pool = (transporter as unknown as { transporter: PoolInternals }).transporter;
  const sendPooled = (message: OutgoingMessage) => {
    // Connections open inside the pool; each gets the fast path before its next message.
    for (const resource of pool._connections ?? [])
      if (resource.connection) sendWireReadyAsIs(resource.connection);
    return new Promise<{ response: string }>((resolve, reject) =>
      pool.send(pooledMail(message), (error, info) =>
        error ? reject(error) : resolve({ response: info?.response ?? '' }),
      ),
    );
  };
  return {
    name: 'smtp',
    label: 'SMTP_URL',
    // Two per connection: one on the wire, one queued in the pool, so no connection waits on
    // the batch to hand it the next message.
    concurrency: Math.max(1, poolSize * 2),
    send: (message) =>
      timedSend(async () => {
        try {
          return await sendPooled(message);
        } catch (error) {
          throw toMailSendError(error);
        }
      }),
    async verify() {
      await transporter.verify();
    },
    async close() {
      // nodemailer's pool.close() drops idle sockets without QUIT: say goodbye first.
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
