// The outbox viewer's logic: list the .eml files the outbox transport wrote, newest first,
// and read one back as rendered HTML, text or raw source (a small mail catcher).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';

/** Names the outbox transport writes: no path separators, no leading dot (temp files). */
const MESSAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.eml$/;

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
  date: string | null;
  html: string | null;
  text: string | null;
}

/** Tells whether `name` can be an outbox message (and so is safe to join to the directory). */
export function isOutboxName(name: string): boolean {
  return MESSAGE_NAME.test(name) && !name.includes('..');
}

/** Lists the outbox messages, newest first; an absent outbox is an empty one. */
export async function listOutbox(outboxDir: string, limit = 200): Promise<OutboxEntry[]> {
  let names: string[];
  try {
    names = (await readdir(outboxDir)).filter(isOutboxName);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const entries = await Promise.all(
    names.map(async (name) => {
      try {
        const info = await stat(join(outboxDir, name));
        return { name, size: info.size, modifiedAt: info.mtime.toISOString(), mtime: info.mtimeMs };
      } catch {
        return null; // removed between readdir and stat
      }
    }),
  );
  return entries
    .filter((entry) => entry !== null)
    .sort((a, b) => b.mtime - a.mtime || b.name.localeCompare(a.name))
    .slice(0, limit)
    .map(({ name, size, modifiedAt }) => ({ name, size, modifiedAt }));
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
    date: parsed.date ? parsed.date.toISOString() : null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    text: parsed.text ?? null,
  };
}
