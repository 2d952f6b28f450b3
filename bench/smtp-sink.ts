// A fast SMTP sink for the bench, run as its own process so its CPU is not the bench's:
// accepts every message, counts messages, bytes and distinct recipients.
// Protocol: prints one JSON line `{"port":N}` when listening; each stdin line `count` prints
// the counts as one JSON line, `reset` zeroes them; on SIGTERM/SIGINT or stdin end it prints
// the counts once more and exits.
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { SMTPServer } from 'smtp-server';

interface SinkCounts {
  accepted: number;
  bytes: number;
  recipients: number;
  /** Messages to a recipient that had already received one since the last reset. */
  duplicates: number;
  /** When the last message was accepted (ms since epoch), 0 before any. */
  lastAt: number;
}

let counts: SinkCounts = { accepted: 0, bytes: 0, recipients: 0, duplicates: 0, lastAt: 0 };
let seen = new Set<string>();

/** Writes the current counts as one JSON line. */
function report(): void {
  process.stdout.write(`${JSON.stringify(counts)}\n`);
}

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 20 * 1024 * 1024,
  maxClients: 1000,
  onData(stream, session, callback) {
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    stream.on('end', () => {
      counts.accepted += 1;
      counts.bytes += bytes;
      counts.lastAt = Date.now();
      for (const rcpt of session.envelope.rcptTo) {
        if (seen.has(rcpt.address)) counts.duplicates += 1;
        else {
          seen.add(rcpt.address);
          counts.recipients += 1;
        }
      }
      callback(null, 'queued by the bench sink');
    });
  },
});

/** Prints the final counts and exits. */
function finish(): void {
  report();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const port = (server.server.address() as AddressInfo).port;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const command = line.trim();
  if (command === 'count') report();
  else if (command === 'reset') {
    counts = { accepted: 0, bytes: 0, recipients: 0, duplicates: 0, lastAt: 0 };
    seen = new Set();
    report();
  }
});
input.on('close', finish);
process.once('SIGTERM', finish);
process.once('SIGINT', finish);
