// Structured JSON logs on stderr (stdout stays clean for `--json` output). Log ids, never
// email addresses or secrets.
import { pino } from 'pino';

export type Logger = pino.Logger;

const EMAIL_LIKE = /[^\s<>()"',;:]+@[^\s<>()"',;:]+\.[A-Za-z]{2,}/g;

/** Masks anything shaped like an email address. */
export function maskEmails(text: string): string {
  return text.replace(EMAIL_LIKE, '[email]');
}

/** pino's error serializer, with addresses masked in the message and stack. */
function serializeError(error: unknown) {
  if (!(error instanceof Error)) return error;
  const serialized = pino.stdSerializers.err(error);
  return {
    ...serialized,
    message: maskEmails(serialized.message),
    stack: serialized.stack ? maskEmails(serialized.stack) : serialized.stack,
  };
}

/** The process logger; `destination` (default: stderr) lets a test read what was logged. */
export function createLogger(
  level: string = 'info',
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
  return pino(
    {
      level,
      base: { service: 'herald' },
      serializers: { err: serializeError, error: serializeError },
      // Errors from SMTP and SQL carry addresses (`550 <ana@…>`, `Key (email)=(…)`).
      redact: {
        paths: [
          'email',
          '*.email',
          'password',
          '*.password',
          'secret',
          '*.secret',
          'err.response',
          'err.rejected',
          'err.rejectedErrors',
          'err.envelope',
          'err.detail',
          'error.response',
          'error.detail',
        ],
        remove: true,
      },
    },
    destination,
  );
}
