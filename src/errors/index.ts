// The one error type for input a caller can fix, whatever the interface: the HTTP layer maps
// it to 400/404/409 (src/http/errors.ts), the CLI to an exit code (src/cli/context.ts). Domain
// code throws it (or a subclass that keeps a domain name) and never picks a status itself.

/** What is wrong with the input: malformed or out of range, names nothing, or clashes with state. */
export type InputErrorKind = 'invalid' | 'not_found' | 'conflict';

/** Bad input: `field` names what is wrong (email, at, topics…), the message says why. */
export class InputError extends Error {
  constructor(
    readonly kind: InputErrorKind,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/** A value that is malformed or out of range (HTTP 400, exit 2). */
export function invalid(field: string, message: string): InputError {
  return new InputError('invalid', field, message);
}

/** A reference to something that does not exist (HTTP 404, exit 2). */
export function notFound(field: string, message: string): InputError {
  return new InputError('not_found', field, message);
}

/** A request the current state refuses (HTTP 409, exit 4). */
export function conflict(field: string, message: string): InputError {
  return new InputError('conflict', field, message);
}

/** The kind for a legacy 400/404/409 status (domain errors that still carry one). */
export function kindOfStatus(status: 400 | 404 | 409): InputErrorKind {
  return status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'invalid';
}

/** The HTTP status each kind answers with. */
export const HTTP_STATUS: Readonly<Record<InputErrorKind, 400 | 404 | 409>> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
};

/**
 * The CLI exit code each kind ends with (docs/cli.md: 2 bad input, 4 refused because of the
 * current state); a name that matches nothing is bad input on a command line.
 */
export const EXIT_CODE: Readonly<Record<InputErrorKind, number>> = {
  invalid: 2,
  not_found: 2,
  conflict: 4,
};
