// Editor API for subscribers: add one, CSV import, CSV/JSON export, the suppression list
// (list/add: editor; remove: admin only, logged) and the ESP bounce/complaint webhook.
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { notFound } from '../../errors/index.ts';
import { applyBounceEvents, bounceEventsSchema } from '../../subscribers/bounce-webhook.ts';
import { emailHash, parseEmail } from '../../subscribers/identity.ts';
import { exportFormats, subscriberExport } from '../../subscribers/import.ts';
import { importWithConfirmations } from '../../subscribers/import-with-confirmations.ts';
import {
  listSubscribers,
  subscriberListItemSchema,
  subscriberListQuerySchema,
} from '../../subscribers/list.ts';
import {
  digestFrequencies,
  getSubscriber,
  upsertSubscriber,
} from '../../subscribers/repository.ts';
import {
  addSuppression,
  liftSuppression,
  listSuppressions,
  suppressionReasons,
} from '../../subscribers/suppressions.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';
import { listPageSchema } from '../openapi.ts';

const topicList = z.union([
  z.array(z.string().trim().min(1)),
  z.string().transform((s) =>
    s
      .split(';')
      .map((t) => t.trim())
      .filter(Boolean),
  ),
]);

const addBody = z.object({
  email: z.string(),
  name: z.string().nullish(),
  topics: topicList.optional(),
  timezone: z.string().optional(),
  digest: z.enum(digestFrequencies).optional(),
  sendHour: z.number().int().min(0).max(23).optional(),
  status: z.enum(['pending', 'active']).optional(),
});

const importQuery = z.object({
  pending: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});

const exportQuery = z.object({ format: z.enum(exportFormats).default('csv') });
const idParams = z.object({ id: z.coerce.number().int().positive() });

const suppressionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  reason: z.enum(suppressionReasons).optional(),
});

const emailField = z.string().refine((v) => parseEmail(v) !== null, 'is not a valid address');
const addSuppressionBody = z.object({
  email: emailField,
  reason: z.enum(suppressionReasons).default('manual'),
  note: z.string().max(500).optional(),
});
const removeSuppressionBody = z.object({ email: emailField });

export async function subscriberRoutes(
  server: FastifyInstance,
  { app }: { app: App },
): Promise<void> {
  const db = app.store.db;
  const editor = requireRole(db, 'editor');
  const log = app.logger.child({ component: 'api.subscribers' });
  // CSV arrives as a stream: the importer reads it row by row (no whole-body limit).
  server.addContentTypeParser(['text/csv', 'text/plain'], (_request, payload, done) =>
    done(null, payload),
  );

  server.post(
    '/api/subscribers',
    { preHandler: editor, schema: { body: addBody } },
    async (request, reply) => {
      const body = parseOr400(addBody, request.body, 'subscriber');
      const result = await upsertSubscriber(db, body);
      log.info({ subscriberId: result.id, created: result.created }, 'subscribers.added');
      return reply
        .status(result.created ? 201 : 200)
        .send({ ...result, subscriber: await getSubscriber(db, result.id) });
    },
  );

  server.get(
    '/api/subscribers/export',
    { preHandler: editor, schema: { querystring: exportQuery } },
    async (request, reply) => {
      const { format } = parseOr400(exportQuery, request.query, 'query');
      const { stream, mediaType, filename } = subscriberExport(db, format);
      return reply
        .header('content-type', mediaType)
        .header('content-disposition', `attachment; filename="${filename}"`)
        .send(stream);
    },
  );

  server.get(
    '/api/subscribers',
    {
      preHandler: editor,
      schema: {
        summary: 'Subscribers, newest first; q: address prefix or name (editor)',
        querystring: subscriberListQuerySchema,
        response: { 200: listPageSchema(subscriberListItemSchema) },
      },
    },
    async (request) =>
      listSubscribers(db, parseOr400(subscriberListQuerySchema, request.query, 'query')),
  );

  server.get(
    '/api/subscribers/:id',
    { preHandler: editor, schema: { params: idParams } },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'path');
      const subscriber = await getSubscriber(db, id);
      if (!subscriber) throw notFound('id', `no subscriber ${id}`);
      return subscriber;
    },
  );

  server.post(
    '/api/subscribers/import',
    {
      preHandler: editor,
      schema: {
        querystring: importQuery,
        consumes: ['text/csv'],
        body: z.string().meta({ description: 'CSV: email,name,topics,timezone,digest' }),
      },
    },
    async (request) => {
      const { pending } = parseOr400(importQuery, request.query, 'query');
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') {
        throw new HttpError(415, 'send the CSV with Content-Type: text/csv', [
          { field: '(body)', message: 'expected text/csv' },
        ]);
      }
      // Confirmations go out after the answer (the use case logs each failure).
      const { report } = await importWithConfirmations(
        { db, config: app.config, log, transport: () => app.transport() },
        body,
        {
          pending,
        },
      );
      return {
        imported: report.imported,
        updated: report.updated,
        // The first rejected rows with their reasons; the count covers them all.
        rejected: report.rejected,
        rejectedCount: report.rejectedCount,
        confirmationsQueued: report.pending.length,
      };
    },
  );

  server.get(
    '/api/suppressions',
    { preHandler: editor, schema: { querystring: suppressionsQuery } },
    async (request) => {
      const query = parseOr400(suppressionsQuery, request.query, 'query');
      return { suppressions: await listSuppressions(db, query) };
    },
  );

  server.post(
    '/api/suppressions',
    { preHandler: editor, schema: { body: addSuppressionBody } },
    async (request, reply) => {
      const body = parseOr400(addSuppressionBody, request.body, 'suppression');
      const email = parseEmail(body.email)!;
      const { added } = await addSuppression(db, email, body.reason, body.note ?? null);
      log.info({ emailHash: emailHash(email), reason: body.reason, added }, 'suppressions.added');
      return reply.status(added ? 201 : 200).send({ added, emailHash: emailHash(email) });
    },
  );

  server.post(
    '/api/suppressions/remove',
    { preHandler: requireRole(db, 'admin'), schema: { body: removeSuppressionBody } },
    async (request) => {
      const body = parseOr400(removeSuppressionBody, request.body, 'suppression');
      return liftSuppression(db, log, parseEmail(body.email)!, request.apiRole ?? null);
    },
  );

  server.post(
    '/api/events/bounce',
    { preHandler: requireRole(db, 'editor', 'ops'), schema: { body: bounceEventsSchema } },
    async (request) => {
      const parsed = parseOr400(bounceEventsSchema, request.body, 'bounce event');
      const results = await applyBounceEvents(
        db,
        {
          secret: app.config.HERALD_SECRET,
          log,
          softBounceLimit: app.config.SOFT_BOUNCE_LIMIT,
          softBounceWindowDays: app.config.SOFT_BOUNCE_WINDOW_DAYS,
        },
        Array.isArray(parsed) ? parsed : [parsed],
      );
      return { results };
    },
  );
}
