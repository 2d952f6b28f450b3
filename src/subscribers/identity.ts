// How an email address is identified, shown and hashed. Identity is case-insensitive in the
// whole address, as every major mailbox provider treats it: `Priya@X.net` and `priya@x.net`
// are one subscriber and one suppression. The store keeps that normal form in
// `subscribers.email` (unique) and the address as typed in `subscribers.email_display`.
import { createHash } from 'node:crypto';
import { z } from 'zod';

const emailShape = z.string().email();

/** The identity of an address: trimmed and lower-cased in full. */
export function emailKey(input: string): string {
  return input.trim().toLowerCase();
}

/**
 * The address as typed, for display: trimmed, with the domain lower-cased (the domain's case
 * never means anything; the local part is shown as its owner wrote it).
 */
export function displayEmail(input: string): string {
  const trimmed = input.trim();
  const at = trimmed.lastIndexOf('@');
  if (at < 0) return trimmed;
  return `${trimmed.slice(0, at)}@${trimmed.slice(at + 1).toLowerCase()}`;
}

/** The normal form the store keys by (same as emailKey; kept under its old name for callers). */
export function normaliseEmail(input: string): string {
  return emailKey(input);
}

/** An address checked and split into its identity and its shown form. */
export interface ParsedEmail {
  key: string;
  display: string;
}

/** Checks an address; returns its key and display form, or null when it is not valid. */
export function parseEmailParts(input: string): ParsedEmail | null {
  const display = displayEmail(input);
  if (display.length > 254 || /[\r\n]/.test(display)) return null;
  if (!emailShape.safeParse(display).success) return null;
  return { key: emailKey(display), display };
}

/** Returns the address in its normal form (the store's key), or null when it is not valid. */
export function parseEmail(input: string): string | null {
  return parseEmailParts(input)?.key ?? null;
}

/**
 * sha256 of the normal form: what suppressions are keyed by. Hashes stored before the
 * identity became case-insensitive were already of the fully lower-cased address, so they
 * stay valid.
 */
export function emailHash(email: string): string {
  return createHash('sha256').update(emailKey(email)).digest('hex');
}
