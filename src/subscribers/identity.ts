// How an email address is normalised and hashed (the suppression list keys on the hash).
import { createHash } from 'node:crypto';
import { z } from 'zod';

const emailShape = z.string().email();

/** Trims and lower-cases the domain (the local part is case-sensitive by RFC 5321). */
export function normaliseEmail(input: string): string {
  const trimmed = input.trim();
  const at = trimmed.lastIndexOf('@');
  if (at < 0) return trimmed;
  return `${trimmed.slice(0, at)}@${trimmed.slice(at + 1).toLowerCase()}`;
}

/** Returns the normalised address, or null when it is not a valid address. */
export function parseEmail(input: string): string | null {
  const normalised = normaliseEmail(input);
  if (normalised.length > 254 || /[\r\n]/.test(normalised)) return null;
  return emailShape.safeParse(normalised).success ? normalised : null;
}

/** sha256 of the normalised, fully lower-cased address: what suppressions are keyed by. */
export function emailHash(email: string): string {
  return createHash('sha256').update(normaliseEmail(email).toLowerCase()).digest('hex');
}
