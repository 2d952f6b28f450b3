// Editor API for subscribers: add one, CSV import, CSV/JSON export, the suppression list
// (list/add: editor; remove: admin only, logged) and the ESP bounce/complaint webhook.
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { resolveTokens } from '../../subscribers/bounces.ts';
import { sendConfirmations } from '../../subscribers/confirmation.ts';
import { applyBounce, recordEvent } from '../../subscribers/events.ts';
import { emailHash, parseEmail } from '../../subscribers/identity.ts';
import {
  exportSubscribersCsv,
  exportSubscribersJson,
  importSubscribersCsv,
} from '../../subscribers/import.ts';
import {
  digestFrequencies,
  getSubscriber,
  SubscriberInputError,
  upsertSubscriber,
} from '../../subscribers/repository.ts';
import {
  addSuppression,
  removeSuppression,
  suppressionReasons,
} from '../../subscribers/suppressions.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';

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

const exportQuery = z.object({ format: z.enum(['csv', 'json']).default('csv') });
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

/** One ESP event: the VERP token (or the whole bounce address) names the recipient. */
const bounceEvent = z
  .object({
    type: z.enum(['bounce', 'complaint']),
    /** hard/permanent → hard; soft/transient → soft. */
    bounceType: z.enum(['hard', 'soft', 'permanent', 'transient']).optional(),
    token: z.string().min(1).optional(),
    /** The envelope sender the message went out with: bounces+TOKEN@domain. */
    returnPath: z.string().min(1).optional(),
    status: z.string().max(100).optional(),
    diagnostic: z.string().max(1000).optional(),
  })
  .refine((e) => e.token !== undefined || e.returnPath !== undefined, {
    message: 'token or returnPath is required',
    path: ['token'],
  })
  .refine((e) => e.type === 'complaint' || e.bounceType !== undefined || e.status !== undefined, {
    message: 'a bounce needs bounceType or an enhanced status code',
    path: ['bounceType'],
  });
const bounceBody = z.union([bounceEvent, z.array(bounceEvent).min(1).max(1000)]);

function inputError(error: unknown): never {
  if (error instanceof SubscriberInputError) {
    throw new HttpError(400, error.message, [{ field: error.field, message: error.message }]);
  }
  throw error;
}

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

  server.post('/api/subscribers', { preHandler: editor }, async (request, reply) => {
    const body = parseOr400(addBody, request.body, 'subscriber');
    const result = await upsertSubscriber(db, body).catch(inputError);
    log.info({ subscriberId: result.id, created: result.created }, 'subscribers.added');
    return reply
      .status(result.created ? 201 : 200)
      .send({ ...result, subscriber: await getSubscriber(db, result.id) });
  });

  server.get('/api/subscribers/export', { preHandler: editor }, async (request, reply) => {
    const { format } = parseOr400(exportQuery, request.query, 'query');
    const stream = format === 'csv' ? exportSubscribersCsv(db) : exportSubscribersJson(db);
    return reply
      .header(
        'content-type',
        format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      )
      .header('content-disposition', `attachment; filename="subscribers.${format}"`)
      .send(stream);
  });

  server.get('/api/subscribers/:id', { preHandler: editor }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const subscriber = await getSubscriber(db, id);
    if (!subscriber) throw new HttpError(404, `no subscriber ${id}`);
    return subscriber;
  });

  server.post('/api/subscribers/import', { preHandler: editor }, async (request) => {
    const { pending } = parseOr400(importQuery, request.query, 'query');
    const body = request.body as Readable | undefined;
    if (!body || typeof (body as Readable).pipe !== 'function') {
      throw new HttpError(415, 'send the CSV with Content-Type: text/csv', [
        { field: '(body)', message: 'expected text/csv' },
      ]);
    }
    const report = await importSubscribersCsv(db, body, {
      status: pending ? 'pending' : 'active',
    }).catch(inputError);
    log.info(
      { imported: report.imported, updated: report.updated, rejected: report.rejectedCount },
      'subscribers.import.done',
    );
    if (report.pending.length > 0) {
      // Confirmations go out after the answer; each failure is logged by subscriber id.
      void sendConfirmations(
        app.store.db,
        app.config,
        await app.transport(),
        report.pending,
        (recipient, error) =>
          log.error(
            { subscriberId: recipient.subscriberId, err: error },
            'subscribers.confirmation.failed',
          ),
      );
    }
    return {
      imported: report.imported,
      updated: report.updated,
      // The first rejected rows with their reasons; the count covers them all.
      rejected: report.rejected,
      rejectedCount: report.rejectedCount,
      confirmationsQueued: report.pending.length,
    };
  });

  server.get('/api/suppressions', { preHandler: editor }, async (request) => {
    const query = parseOr400(suppressionsQuery, request.query, 'query');
    let select = db.selectFrom('suppressions').selectAll();
    if (query.reason) select = select.where('reason', '=', query.reason);
    const rows = await select.orderBy('id').limit(query.limit).offset(query.offset).execute();
    return {
      suppressions: rows.map((r) => ({
        id: r.id,
        emailHash: r.email_hash,
        email: r.email,
        reason: r.reason,
        note: r.note,
        createdAt: r.created_at,
      })),
    };
  });

  server.post('/api/suppressions', { preHandler: editor }, async (request, reply) => {
    const body = parseOr400(addSuppressionBody, request.body, 'suppression');
    const email = parseEmail(body.email)!;
    const { added } = await addSuppression(db, email, body.reason, body.note ?? null);
    log.info({ emailHash: emailHash(email), reason: body.reason, added }, 'suppressions.added');
    return reply.status(added ? 201 : 200).send({ added, emailHash: emailHash(email) });
  });

  server.post(
    '/api/suppressions/remove',
    { preHandler: requireRole(db, 'admin') },
    async (request) => {
      const body = parseOr400(removeSuppressionBody, request.body, 'suppression');
      const email = parseEmail(body.email)!;
      const result = await removeSuppression(db, email);
      if (!result.removed) throw new HttpError(404, 'the address is not on the suppression list');
      const hash = emailHash(email);
      await recordEvent(db, 'suppression.removed', {
        detail: { emailHash: hash, reason: result.reason, by: request.apiRole ?? null },
      });
      log.warn({ emailHash: hash, reason: result.reason }, 'suppressions.removed');
      return { removed: true, emailHash: hash, reason: result.reason };
    },
  );

  server.post(
    '/api/events/bounce',
    { preHandler: requireRole(db, 'editor', 'ops') },
    async (request) => {
      const parsed = parseOr400(bounceBody, request.body, 'bounce event');
      const events = Array.isArray(parsed) ? parsed : [parsed];
      const results = [];
      for (const event of events) {
        const token = event.token ?? /bounces\+([^@]+)@/i.exec(event.returnPath ?? '')?.[1] ?? '';
        const who = await resolveTokens(db, app.config.HERALD_SECRET, [token], []);
        if (!who) {
          results.push({ ok: false, reason: 'token does not verify' });
          continue;
        }
        const kind =
          event.type === 'complaint'
            ? 'complaint'
            : event.bounceType === 'hard' || event.bounceType === 'permanent'
              ? 'hard'
              : event.bounceType === 'soft' || event.bounceType === 'transient'
                ? 'soft'
                : event.status?.trim().startsWith('5')
                  ? 'hard'
                  : 'soft';
        const outcome = await applyBounce(db, {
          ...who,
          kind,
          reply: [event.status, event.diagnostic].filter(Boolean).join(' ') || event.type,
          softBounceLimit: app.config.SOFT_BOUNCE_LIMIT,
          softBounceWindowDays: app.config.SOFT_BOUNCE_WINDOW_DAYS,
        });
        log.info({ ...who, kind, outcome }, 'bounces.webhook.applied');
        results.push({ ok: true, ...who, kind, outcome });
      }
      return { results };
    },
  );
}
