// Structured JSON logs on stderr (stdout stays clean for `--json` output). Log ids, never
// email addresses or secrets.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string = 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'herald' },
      redact: {
        paths: ['email', '*.email', 'password', '*.password', 'secret', '*.secret'],
        remove: true,
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
