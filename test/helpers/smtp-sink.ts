// An in-test SMTP server that accepts (or refuses, as told) messages and records them.
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface SinkMessage {
  from: string;
  to: string[];
  raw: Buffer;
  /** When the sink accepted it (ms since the epoch). */
  at: number;
  /** The sending client's TCP port (tells which process's connection carried it). */
  clientPort: number;
}

export interface SmtpSinkOptions {
  /** Reply for a recipient: undefined accepts; a code ≥ 400 refuses with that code. */
  rcptReply?: (address: string) => number | undefined;
  /** Reply for a whole message after DATA (e.g. a random 451); undefined accepts. */
  dataReply?: (message: SinkMessage) => number | undefined;
  /** Delay each accepted message by this many ms (to keep messages in flight). */
  delayMs?: number;
  /**
   * Called as a client connects, before the sink greets it (the client's socket exists then:
   * a test can find which process holds that port).
   */
  onConnect?: (clientPort: number) => void;
}

export interface SmtpSink {
  url: string;
  port: number;
  /** Accepted messages in arrival order. */
  messages: SinkMessage[];
  /** How many accepted messages each recipient got. */
  countsByRecipient(): Map<string, number>;
  parse(message: SinkMessage): Promise<ParsedMail>;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  const error = new Error(text) as Error & { responseCode: number };
  error.responseCode = code;
  return error;
}

/** Starts a sink on a free loopback port. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    onConnect(session: SMTPServerSession, callback: (error?: Error) => void) {
      options.onConnect?.(session.remotePort);
      callback();
    },
    onRcptTo(
      address: SMTPServerAddress,
      _session: SMTPServerSession,
      callback: (error?: Error) => void,
    ) {
      const code = options.rcptReply?.(address.address);
      if (code !== undefined) return callback(smtpError(code, `${code} refused by the test sink`));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const message: SinkMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          at: Date.now(),
          clientPort: session.remotePort,
        };
        const code = options.dataReply?.(message);
        if (code !== undefined)
          return callback(smtpError(code, `${code} try again later (test sink)`));
        const accept = () => {
          message.at = Date.now();
          messages.push(message);
          callback(null, 'queued by the test sink');
        };
        if (options.delayMs) setTimeout(accept, options.delayMs);
        else accept();
      });
    },
  });
  // A client killed mid-session (the crash tests do that) resets its socket: not a failure.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    countsByRecipient() {
      const counts = new Map<string, number>();
      for (const message of messages)
        for (const to of message.to) counts.set(to, (counts.get(to) ?? 0) + 1);
      return counts;
    },
    parse: (message) => simpleParser(message.raw),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
