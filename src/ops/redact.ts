// Redaction of email addresses from anything ops can see (queue dashboard, job data, errors).

/** Matches anything that looks like an address: local part, @, a dotted domain. */
const EMAIL_PATTERN = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

export const REDACTED_EMAIL = '[redacted email]';

/** Returns the text with every email address replaced by a fixed marker. */
export function redactEmailsInText(text: string): string {
  return text.replace(EMAIL_PATTERN, REDACTED_EMAIL);
}

/** Returns a deep copy of `value` with email addresses removed from every string in it. */
export function redactEmails(value: unknown, depth = 0): unknown {
  // Job data is JSON from Redis; a depth cap keeps a hostile payload from blowing the stack.
  if (depth > 64) return '[too deep]';
  if (typeof value === 'string') return redactEmailsInText(value);
  if (Array.isArray(value)) return value.map((item) => redactEmails(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        redactEmailsInText(key),
        redactEmails(item, depth + 1),
      ]),
    );
  }
  return value;
}
