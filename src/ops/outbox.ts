// The outbox viewer's logic: list the .eml files the outbox transport wrote, newest first, a
// page at a time, and read one back as rendered HTML, text or raw source (a small mail
// catcher). The transport writes each message as a final delivery would: the envelope (MAIL
// FROM, RCPT TO) in `Return-Path:` and `X-Original-To:` header lines before the message, so a
// VERP bounce address can be checked offline.
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isOutboxName } from '../mail/transports/outbox.ts';

export interface OutboxEntry {
  name: string;
  size: number;
  modifiedAt: string;
}

export interface OutboxMessage {
  name: string;
  subject: string;
  from: string;
  to: string;
  /** The envelope as the transport recorded it (null for messages written before it did). */
  envelope: { from: string | null; to: string | null };
  date: string | null;
  html: string | null;
  text: string | null;
}

/** One page of the outbox: its entries, and how many messages the whole outbox holds. */
export interface OutboxPage {
  total: number;
  page: number;
  pages: number;
  entries: OutboxEntry[];
}

/** Messages per outbox page. */
export const OUTBOX_PAGE_SIZE = 100;

/**
 * One page (from 1) of the outbox, newest first, with the true total; an absent outbox is an
 * empty one. File names start with the time they were written, so names sort by age and only
 * the page's files are stat'ed (an outbox of 100k messages still answers quickly).
 */
export async function pageOutbox(
  outboxDir: string,
  page = 1,
  perPage = OUTBOX_PAGE_SIZE,
): Promise<OutboxPage> {
  let names: string[];
  try {
    names = (await readdir(outboxDir)).filter(isOutboxName);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    names = [];
  }
  names.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const pages = Math.max(1, Math.ceil(names.length / perPage));
  const current = Math.min(Math.max(1, page), pages);
  const slice = names.slice((current - 1) * perPage, current * perPage);
  return {
    total: names.length,
    page: current,
    pages,
    entries: await describeEntries(outboxDir, slice),
  };
}

/** Lists the newest `limit` outbox messages. */
export async function listOutbox(outboxDir: string, limit = 200): Promise<OutboxEntry[]> {
  return (await pageOutbox(outboxDir, 1, limit)).entries;
}

/** Size and time of each named message, in the order given (ones removed meanwhile left out). */
async function describeEntries(outboxDir: string, names: string[]): Promise<OutboxEntry[]> {
  const entries = await Promise.all(
    names.map(async (name) => {
      try {
        const info = await stat(join(outboxDir, name));
        return { name, size: info.size, modifiedAt: info.mtime.toISOString() };
      } catch {
        return null; // removed between readdir and stat
      }
    }),
  );
  return entries.filter((entry) => entry !== null);
}

/** Reads one message's raw source, or null when there is no such message. */
export async function readOutboxRaw(outboxDir: string, name: string): Promise<Buffer | null> {
  if (!isOutboxName(name)) return null;
  try {
    return await readFile(join(outboxDir, name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Parses one message into subject, addresses, HTML and text, or null when absent. */
export async function readOutboxMessage(
  outboxDir: string,
  name: string,
): Promise<OutboxMessage | null> {
  const raw = await readOutboxRaw(outboxDir, name);
  if (!raw) return null;
  // Loaded here only: the viewer's routes load with every server, reading a message is rare.
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(raw);
  const addresses = (value: typeof parsed.to) =>
    value === undefined
      ? ''
      : (Array.isArray(value) ? value : [value]).map((a) => a.text).join(', ');
  return {
    name,
    subject: parsed.subject ?? '',
    from: parsed.from?.text ?? '',
    to: addresses(parsed.to),
    envelope: {
      from: headerText(parsed.headers.get('return-path')),
      to: headerText(parsed.headers.get('x-original-to')),
    },
    date: parsed.date ? parsed.date.toISOString() : null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    text: parsed.text ?? null,
  };
}

/** A parsed header as plain text (mailparser hands back address objects for some). */
function headerText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && 'text' in value) return String((value as { text: string }).text);
  return String(value);
}

/** What the console's outbox list shows of a message: its envelope and main headers. */
export interface OutboxSummary extends OutboxEntry {
  subject: string;
  to: string;
  envelope: { from: string | null; to: string | null };
  date: string | null;
}

/** Bytes of a message read for its headers (headers past this are not shown in the list). */
const HEADER_BYTES = 32 * 1024;

/**
 * The headers of each listed message (only the header block is read and parsed, so a page of
 * large messages stays cheap); a message removed meanwhile is left out.
 */
export async function summariseOutbox(
  outboxDir: string,
  entries: readonly OutboxEntry[],
): Promise<OutboxSummary[]> {
  const { simpleParser } = await import('mailparser');
  const summaries = await Promise.all(
    entries.map(async (entry): Promise<OutboxSummary | null> => {
      if (!isOutboxName(entry.name)) return null;
      let head: Buffer;
      try {
        const file = await open(join(outboxDir, entry.name), 'r');
        try {
          const buffer = Buffer.alloc(HEADER_BYTES);
          const { bytesRead } = await file.read(buffer, 0, HEADER_BYTES, 0);
          head = buffer.subarray(0, bytesRead);
        } finally {
          await file.close();
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      const end = head.indexOf('\r\n\r\n');
      const endLf = head.indexOf('\n\n');
      const cut = end >= 0 ? end : endLf;
      const headers = cut >= 0 ? head.subarray(0, cut) : head;
      const parsed = await simpleParser(Buffer.concat([headers, Buffer.from('\r\n\r\n')]));
      const to =
        parsed.to === undefined
          ? ''
          : (Array.isArray(parsed.to) ? parsed.to : [parsed.to]).map((a) => a.text).join(', ');
      return {
        ...entry,
        subject: parsed.subject ?? '',
        to,
        envelope: {
          from: headerText(parsed.headers.get('return-path')),
          to: headerText(parsed.headers.get('x-original-to')),
        },
        date: parsed.date ? parsed.date.toISOString() : null,
      };
    }),
  );
  return summaries.filter((summary) => summary !== null);
}
