// The outbox transport: each message becomes one .eml file in the outbox directory (the
// embedded default when no SMTP_URL is set), written as a final delivery would file it. The
// outbox viewer (src/ops/outbox.ts) reads these files back; the naming rule lives here.
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { timedSend } from '../metrics.ts';
import { toMailSendError } from '../smtp-reply.ts';
import type { MailTransport } from '../transport.ts';

/** Names the outbox transport writes: no path separators, no leading dot (temp files). */
const MESSAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.eml$/;

/** Tells whether `name` can be an outbox message (and so is safe to join to the directory). */
export function isOutboxName(name: string): boolean {
  return MESSAGE_NAME.test(name) && !name.includes('..');
}

/** Keeps a header value on one line (an address never holds CR or LF; a bug must not split it). */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/**
 * The lines a delivering server adds in front of a message it files: `Return-Path:` with the
 * envelope sender and `X-Original-To:` with the envelope recipients.
 */
export function envelopeHeaders(envelope: { from: string; to: readonly string[] }): string {
  return `Return-Path: <${oneLine(envelope.from)}>\r\nX-Original-To: ${envelope.to.map(oneLine).join(', ')}\r\n`;
}

/** Opens the outbox in `outboxDir` (created if missing). */
export function createOutboxTransport(outboxDir: string): MailTransport {
  mkdirSync(outboxDir, { recursive: true });
  return {
    name: 'outbox',
    label: 'outbox',
    // Local file writes: a few in flight keep the disk busy without a pile of open files.
    concurrency: 4,
    send: (message) =>
      timedSend(async () => {
        const id = (message.messageId ?? randomUUID()).replace(/[^A-Za-z0-9._-]/g, '_');
        const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${id}.eml`;
        // Write then rename: a reader of the outbox never sees half a message.
        const temporary = join(outboxDir, `.${name}.tmp`);
        try {
          // Keep the envelope (VERP sender, recipients) as a delivering server would.
          writeFileSync(
            temporary,
            Buffer.concat([
              Buffer.from(envelopeHeaders(message.envelope)),
              Buffer.from(message.raw),
            ]),
          );
          renameSync(temporary, join(outboxDir, name));
        } catch (error) {
          // A full or unwritable disk: temporary, the message is tried again later.
          throw toMailSendError(error);
        }
        return { response: `250 stored in outbox as ${name}` };
      }),
    async verify() {
      mkdirSync(outboxDir, { recursive: true });
    },
    async close() {},
  };
}
