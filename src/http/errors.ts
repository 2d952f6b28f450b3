// How the HTTP layer answers errors: `{error, details}` with a 4xx for anything the caller
// can fix; 5xx only for our own faults (and then without internals).
import { CsvError } from 'csv-parse';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError, type z } from 'zod';
import { HTTP_STATUS, InputError } from '../errors/index.ts';

/**
 * An error only HTTP can have (415 media type, 413 size, 403 origin, 429…), with the status and
 * details to answer with. Input errors of the domain are InputErrors, mapped below.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details: unknown = undefined,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Turns zod issues into `[{field, message}]`, the `details` of a 400. */
export function zodDetails(error: ZodError): Array<{ field: string; message: string }> {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : '(body)',
    message: issue.message,
  }));
}

/** Parses `input` with `schema`, or throws a 400 naming each bad field. */
export function parseOr400<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new HttpError(400, `invalid ${what}`, zodDetails(result.error));
  return result.data;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof HttpError) {
      return reply
        .status(error.statusCode)
        .send({ error: error.message, details: error.details ?? null });
    }
    // The one mapping of domain input errors to HTTP: 400 / 404 / 409, naming the field.
    if (error instanceof InputError) {
      return reply.status(HTTP_STATUS[error.kind]).send({
        error: error.message,
        details: [{ field: error.field, message: error.message }],
      });
    }
    if (error instanceof ZodError) {
      return reply.status(400).send({ error: 'invalid request', details: zodDetails(error) });
    }
    // A CSV body the parser cannot read (unclosed quote, ragged rows…) is the caller's fault.
    if (error instanceof CsvError) {
      return reply.status(400).send({
        error: `invalid CSV: ${error.message}`,
        details: [{ field: '(body)', message: error.message }],
      });
    }
    const status =
      'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send({ error: error.message, details: null });
    }
    request.log.error({ err: error }, 'http.request.failed');
    return reply.status(500).send({ error: 'internal error', details: null });
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, details: null });
  });
}
