// The OpenAPI 3 document of the /api routes, generated from the zod schemas the routes carry
// (`schema: { params, querystring, body, response }`) by @fastify/swagger, with
// fastify-type-provider-zod turning each zod schema into JSON Schema (zod 4's toJSONSchema).
//
// The schemas describe; they do not validate. Every handler still validates its input with the
// same zod schema through parseOr400, so bad input keeps the one error shape Herald answers
// with (`{error, details: [{field, message}]}`, a 400 naming the field): the server's
// validator and serializer compilers pass values through untouched (installSchemaCompilers).
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyPluginAsync, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { App } from '../app.ts';
import { requireRole } from './auth.ts';

/** Where the document is served (any API key may read it). */
export const OPENAPI_PATH = '/api/openapi.json';

/** The body of every 4xx answer. */
export const errorBodySchema = z
  .object({
    error: z.string().meta({ description: 'what went wrong, in words' }),
    details: z
      .union([z.array(z.object({ field: z.string(), message: z.string() })), z.null()])
      .meta({ description: 'for bad input: each field at fault and why' }),
  })
  .meta({ id: 'Error' });

/** `{items, next, total}`: one page of a list. */
export function listPageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next: z
      .string()
      .nullable()
      .meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
    total: z.number().int().optional().meta({ description: 'rows matching the filters' }),
  });
}

/** The usual answers of a keyed route besides its success. */
export const keyedErrors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
} as const;

/**
 * Route schemas are zod (for the document) and handlers validate with parseOr400 themselves:
 * Fastify's own validation and serialization must not compile them (they are not JSON
 * Schema) nor act on them.
 */
export function installSchemaCompilers(server: FastifyInstance): void {
  server.setValidatorCompiler(() => (value) => ({ value }));
  server.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

const zodToOpenApi = createJsonSchemaTransform({
  // A schema zod cannot express in JSON Schema (a custom check) is documented as "any".
  zodToJsonConfig: { unrepresentable: 'any' },
});

/** The family a route belongs to in the document: `/api/campaigns/:id` → campaigns. */
function tagOf(url: string): string {
  return url.split('/')[2] ?? 'api';
}

const openApiPlugin: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Herald API',
        version: '1',
        description:
          'The editor, ops and admin API of Herald. Every route takes `Authorization: Bearer KEY` ' +
          '(`herald keys create --role editor|ops|admin`); errors are `{error, details}` with a 4xx.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ apiKey: [] }],
    },
    // Named schemas (`.meta({id})`, e.g. Error) become components/schemas.
    transformObject: createJsonSchemaTransformObject({}),
    transform: (document) => {
      const { url } = document;
      // Only the JSON API: public pages, redirects and the dashboard are not part of it.
      if (!url.startsWith('/api/')) return { schema: { hide: true } as FastifySchema, url };
      const schema: Record<string, unknown> = { ...(document.schema ?? {}) };
      // Every path parameter is declared, also on routes whose schema does not name it.
      const names = [...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
      if (names.length > 0 && !schema.params) {
        schema.params = z.object(Object.fromEntries(names.map((name) => [name, z.string()])));
      }
      schema.tags ??= [tagOf(url)];
      const response = { ...keyedErrors, ...((schema.response as object | undefined) ?? {}) };
      // A route that does not describe its success still has one (docs/http.md says what).
      if (!Object.keys(response).some((status) => status.startsWith('2'))) {
        Object.assign(response, { 200: z.unknown().meta({ description: 'success' }) });
      }
      schema.response = response;
      return zodToOpenApi({ ...document, schema: schema as FastifySchema });
    },
  });

  fastify.get(
    OPENAPI_PATH,
    {
      preHandler: requireRole(app.store.db, 'editor', 'ops'),
      schema: {
        summary: 'This document (OpenAPI 3.0)',
        tags: ['reference'],
        response: { 200: z.looseObject({ openapi: z.string() }) },
      },
    },
    async () => fastify.swagger(),
  );
};

/**
 * The OpenAPI plugin: register it before the route families (it collects their routes as they
 * are added) and after the hardening plugin.
 */
export const openApi = fp(openApiPlugin, { name: 'herald-openapi' });
