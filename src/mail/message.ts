// Message assembly: finished parts (addresses, subject, bodies, list headers) -> the raw MIME
// message and its envelope, DKIM-signed when a key is configured. Every mail Herald sends
// (campaigns, alerts, digests, welcome, test sends, confirmations) is built here, so every one
// is signed. The multipart skeleton is built once per builder with nodemailer's own header
// encoders; per message only the bodies (base64; a campaign's static runs encoded once, see
// base64-splice.ts) and five headers change. The headers are byte for byte what nodemailer's
// MailComposer (+ its DKIM signer) would produce for the same parts and the bodies decode to
// the same text; only base64 line breaks differ, restarting at each personalised value (see
// `composeWithNodemailer` and test/message.test.ts). Personalisation and link
// signing happen before, in the caller (src/delivery/message.ts, src/subscribers/confirmation.ts).
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import type { Config } from '../config/index.ts';
import { type Base64Template, joinTemplate } from './base64-splice.ts';
import { type DkimKey, dkimBodyHash, dkimSignature, signWithNodemailer } from './dkim.ts';

export interface BuiltMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  messageId: string;
}

/** Knobs for tests and benches; production uses the defaults. */
export interface MailBuilderOptions {
  /** The clock for the Date header. */
  now?: () => Date;
  /** The random part of the multipart boundary (nodemailer's `baseBoundary`). */
  baseBoundary?: string;
}

/** What every message of one builder shares. */
export interface MessageShape {
  subject: string;
  /** Leading headers, in the order the message carries them (e.g. `listHeaders`). */
  headers: Record<string, string>;
}

/**
 * A personalised body: its text, or a template's static runs (encoded once per template) with
 * this message's values between them.
 */
export type MessageBody = string | { template: Base64Template; values: readonly string[] };

/** Everything that varies by message, ready to encode (bodies already personalised). */
export interface MessageParts {
  to: { name: string; address: string };
  messageId: string;
  /** The List-Unsubscribe value; absent for mail that belongs to no list (confirmations). */
  listUnsubscribe?: string;
  envelope: { from: string; to: string[] };
  html: MessageBody;
  text: MessageBody;
}

/** A body as plain text (previews, the nodemailer reference). */
export function bodyText(body: MessageBody): string {
  return typeof body === 'string' ? body : joinTemplate(body.template, body.values);
}

/** A body's base64 lines (no trailing line break) as pieces to join. */
function encodeBody(body: MessageBody): Buffer[] {
  return typeof body === 'string'
    ? [Buffer.from(base64Lines(body), 'latin1')]
    : body.template.encode(body.values);
}

/** The settings the builder reads: the From header and the DKIM key. */
export type MailBuilderConfig = Pick<Config, 'MAIL_FROM' | 'dkim'>;

interface MimeEncoder {
  encodeHeaderValue(key: string, value: unknown): string;
}

/** The parts of MAIL_FROM the builder needs: the header value, its address and domain. */
export function senderParts(mailFrom: string): { address: string; domain: string } {
  const parsed = addressparser(mailFrom, { flatten: true })[0];
  const address = parsed && 'address' in parsed ? parsed.address : '';
  const at = address.lastIndexOf('@');
  if (at < 1) throw new Error(`MAIL_FROM has no usable address: ${mailFrom}`);
  return { address, domain: address.slice(at + 1).toLowerCase() };
}

/**
 * The list headers of one mailing (a campaign, a digest run…), in the order the message carries
 * them before List-Unsubscribe: one-click unsubscribe (RFC 8058), List-ID and Feedback-ID.
 */
export function listHeaders(
  list: { id: number; kind: string },
  mailFrom: string,
): Record<string, string> {
  const { domain } = senderParts(mailFrom);
  return {
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    'List-ID': `${listName(mailFrom)} <${list.kind}.${domain}>`,
    'Feedback-ID': `${list.id}:${list.kind}:herald:${domain}`,
  };
}

/** A List-Id phrase: the sender's display name as plain atoms (no quoting or encoding needed). */
function listName(mailFrom: string): string {
  const name = /^\s*"?([^"<]*?)"?\s*</.exec(mailFrom)?.[1] ?? '';
  return (
    name
      .replace(/[^A-Za-z0-9 ]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim() || 'Herald'
  );
}

/** Formats a Date header value exactly as nodemailer does. */
function dateValue(date: Date): string {
  return date.toUTCString().replace(/GMT/, '+0000');
}

/** Base64 of UTF-8 text in 76-character lines joined by CRLF (nodemailer's wrapping). */
function base64Lines(text: string): string {
  const encoded = Buffer.from(text, 'utf8').toString('base64');
  const lines: string[] = [];
  // Slicing and one join is several times faster than a wrapping regex on 30 kB bodies.
  for (let at = 0; at < encoded.length; at += 76) lines.push(encoded.slice(at, at + 76));
  return lines.join('\r\n');
}

/**
 * Messages built here whose every line ends in CRLF and none starts with a dot: SMTP DATA
 * sends them as they are (no dot-stuffing, no line-ending repair), see transports/smtp.ts.
 */
const wireReady = new WeakSet<Buffer>();

/** Whether `raw` is a message this builder made that SMTP DATA can send byte for byte. */
export function isWireReady(raw: Buffer): boolean {
  return wireReady.has(raw);
}

/** A bare CR, a bare LF, or a line starting with a dot. */
const NOT_WIRE_READY = /\r(?!\n)|(?<!\r)\n|\n\./;

const PLAIN_NAME = /^[A-Za-z0-9]+(?: [A-Za-z0-9]+)*$/;
const PLAIN_ADDRESS = /^[a-z0-9._+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$/;

/**
 * Returns a function that builds one message of a given shape. The skeleton (leading headers,
 * From, Subject, MIME boundaries, part headers) is built once here; per message it encodes the
 * varying headers, base64-encodes the bodies and, when DKIM is configured, hashes the body and
 * signs the headers.
 */
export function createMailBuilder(
  shape: MessageShape,
  config: MailBuilderConfig,
  options: MailBuilderOptions = {},
): (parts: MessageParts) => BuiltMessage {
  const mime = new MimeNode() as unknown as MimeEncoder;
  const header = (key: string, value: unknown) =>
    foldLines(`${key}: ${mime.encodeHeaderValue(key, value)}`, 76);
  const now = options.now ?? (() => new Date());
  const baseBoundary = options.baseBoundary ?? randomBytes(8).toString('hex');
  const boundary = `--_NmP-${baseBoundary}-Part_1`;

  const leadingHeaders = Object.entries(shape.headers).map(([key, value]) => header(key, value));
  const from = header('From', config.MAIL_FROM);
  const subject = header('Subject', shape.subject);
  const contentType = header('Content-Type', `multipart/alternative; boundary="${boundary}"`);
  const textPart = Buffer.from(
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
    'latin1',
  );
  const htmlPart = Buffer.from(
    `\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
    'latin1',
  );
  const closing = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  const dkim: DkimKey | undefined = config.dkim;

  let dateSecond = -1;
  let date = '';
  return (parts) => {
    const ms = now().getTime();
    if (Math.floor(ms / 1000) !== dateSecond) {
      dateSecond = Math.floor(ms / 1000);
      date = header('Date', dateValue(new Date(ms)));
    }
    const headers = [
      ...leadingHeaders,
      ...(parts.listUnsubscribe === undefined
        ? []
        : [header('List-Unsubscribe', parts.listUnsubscribe)]),
      from,
      // The common case (ASCII name and address) skips nodemailer's address parser; the
      // equivalence test covers both paths.
      PLAIN_ADDRESS.test(parts.to.address) &&
      (parts.to.name === '' || PLAIN_NAME.test(parts.to.name))
        ? foldLines(
            `To: ${parts.to.name ? `${parts.to.name} <${parts.to.address}>` : parts.to.address}`,
            76,
          )
        : header('To', parts.to),
      subject,
      header('Message-ID', parts.messageId),
      date,
      'MIME-Version: 1.0',
      contentType,
    ];
    const body = [
      textPart,
      ...encodeBody(parts.text),
      htmlPart,
      ...encodeBody(parts.html),
      closing,
    ];
    let head = headers.join('\r\n');
    if (dkim) head = `${dkimSignature(headers, dkimBodyHash(body), dkim)}\r\n${head}`;
    // Every header is 7-bit after encoding and the bodies are base64, so latin1 is exact.
    body.unshift(Buffer.from(`${head}\r\n\r\n`, 'latin1'));
    const raw = Buffer.concat(body);
    // The body is base64 lines and boundary lines joined by CRLF: never a dot first, never a
    // bare line end. The headers are checked (a few hundred bytes, not the 36 kB body).
    if (!head.startsWith('.') && !NOT_WIRE_READY.test(head)) wireReady.add(raw);
    return { envelope: parts.envelope, raw, messageId: parts.messageId };
  };
}

/**
 * The reference path: the same parts through nodemailer's MailComposer (and its DKIM signer).
 * Slower (~2,600/s); kept as the executable definition the fast builder is tested against.
 */
export function composeWithNodemailer(
  shape: MessageShape,
  config: MailBuilderConfig,
  options: MailBuilderOptions = {},
): (parts: MessageParts) => Promise<BuiltMessage> {
  const now = options.now ?? (() => new Date());
  const baseBoundary = options.baseBoundary ?? randomBytes(8).toString('hex');
  return async (parts) => {
    const composer = new MailComposer({
      from: config.MAIL_FROM,
      to: parts.to,
      subject: shape.subject,
      messageId: parts.messageId,
      date: now(),
      baseBoundary,
      envelope: parts.envelope,
      headers: {
        ...shape.headers,
        ...(parts.listUnsubscribe === undefined
          ? {}
          : { 'List-Unsubscribe': parts.listUnsubscribe }),
      },
      text: { content: bodyText(parts.text), contentTransferEncoding: 'base64' },
      html: { content: bodyText(parts.html), contentTransferEncoding: 'base64' },
    } as ConstructorParameters<typeof MailComposer>[0]);
    let raw = await composer.compile().build();
    if (config.dkim) raw = await signWithNodemailer(raw, config.dkim);
    return { envelope: parts.envelope, raw, messageId: parts.messageId };
  };
}
