// Ops routes: /readyz (ops role), the queue dashboard (/admin/queues, bull-board under the
// console sign-in; the console's own queue page is /console/queues), /admin/outbox's redirects
// to /console/outbox, and the /api/queues endpoints (API keys).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { ALL_QUEUES, type QueueName } from '../../delivery/queues.ts';
import {
  allQueueStats,
  drainQueue,
  pauseQueue,
  queueStats,
  resumeQueue,
  retryFailed,
} from '../../ops/queues.ts';
import { checkReadiness } from '../../ops/readiness.ts';
import { redactEmails, redactEmailsInText } from '../../ops/redact.ts';
import { requireRole } from '../auth.ts';
import { requireConsole } from '../console/guard.ts';
import { parseOr400 } from '../errors.ts';

const queueParams = z.object({ name: z.enum(ALL_QUEUES) });
const drainBody = z.object({ delayed: z.boolean().optional() }).strict();
const retryBody = z.object({ campaignId: z.number().int().positive().optional() }).strict();

export const opsRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const queues = await app.queues();
  // /metrics lives on its own loopback listener (src/ops/metrics-listener.ts); /readyz names
  // what fails and why, so on the public port it is for the ops role only.
  fastify.get('/readyz', { preHandler: requireRole(db, 'ops') }, async (_request, reply) => {
    const report = await checkReadiness(app, await app.transport());
    return reply.status(report.status === 'ok' ? 200 : 503).send(report);
  });

  // The key-in-a-form sign-in is gone: people sign in as users at /console/login.
  fastify.get('/admin/login', async (_request, reply) => reply.redirect('/console/login', 303));

  // The queue dashboard: bull-board over every Herald queue, for the ops role.
  await fastify.register(async (scope) => {
    scope.addHook('onRequest', requireConsole('ops'));
    // Job data, names and results are redacted by formatters; failure reasons, stack traces
    // and logs can quote an address too, so every API answer is redacted once more.
    scope.addHook('onSend', async (request, reply, payload) => {
      const type = String(reply.getHeader('content-type') ?? '');
      if (typeof payload === 'string' && type.includes('json') && request.url.includes('/api/')) {
        return redactEmailsInText(payload);
      }
      return payload;
    });
    // bull-board's handlers expect a JSON object body and answer anything else with a 500
    // from their own error handler: refuse other bodies here with a 415.
    scope.addHook('preValidation', async (request, reply) => {
      const body: unknown = request.body;
      if (body === undefined) return;
      if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) {
        await reply.status(415).send({
          error: 'the queue dashboard API takes a JSON object body',
          details: [{ field: '(body)', message: 'expected application/json with an object' }],
        });
      }
    });
    // bull-board's request validation splits its error messages on NUL and parses the rest as
    // JSON: a NUL (or another control character) in a query value or path turns a bad request
    // into its 500. No queue name, job id or filter of ours holds one: refuse them here.
    scope.addHook('preValidation', async (request, reply) => {
      let url: string;
      try {
        url = decodeURIComponent(request.url);
      } catch {
        url = '\u0000';
      }
      if (/[\u0000-\u001f\u007f]/.test(url)) {
        await reply.status(400).send({
          error: 'the queue dashboard URL holds a control character or bad percent-encoding',
          details: [{ field: '(url)', message: 'control characters are not allowed' }],
        });
      }
    });
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath('/admin/queues');
    createBullBoard({
      queues: ALL_QUEUES.map((name) => {
        const adapter = new BullMQAdapter(queues[name]);
        adapter.setFormatter('data', (data: unknown) => redactEmails(data));
        adapter.setFormatter('returnValue', (value: unknown) => redactEmails(value));
        adapter.setFormatter('name', (job: { name?: unknown }) =>
          redactEmailsInText(String(job.name ?? '')),
        );
        return adapter;
      }),
      // @bull-board/fastify 9.10.1 pins its own copy of @bull-board/api's types (9.10.1 vs
      // 9.10.2 here); the runtime contract is the same.
      serverAdapter: serverAdapter as unknown as Parameters<
        typeof createBullBoard
      >[0]['serverAdapter'],
      options: { uiConfig: { boardTitle: 'Herald queues' } },
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: '/admin/queues' });
  });

  // The outbox viewer moved into the console (/console/outbox): the old addresses redirect,
  // behind the same sign-in and roles.
  await fastify.register(async (scope) => {
    scope.addHook('onRequest', requireConsole('ops', 'editor'));
    scope.get('/admin/outbox', async (request, reply) => {
      const page = (request.query as { page?: unknown }).page;
      const query = typeof page === 'string' ? `?page=${encodeURIComponent(page)}` : '';
      return reply.redirect(`/console/outbox${query}`, 301);
    });
    scope.get('/admin/outbox/:name/:view', async (request, reply) => {
      const { name, view } = request.params as { name: string; view: string };
      return reply.redirect(
        `/console/outbox/${encodeURIComponent(name)}/${encodeURIComponent(view)}`,
        301,
      );
    });
  });

  // The ops API over the queues.
  await fastify.register(async (scope) => {
    scope.addHook('preHandler', requireRole(db, 'ops'));
    scope.get('/api/queues', async () => ({ queues: await allQueueStats(queues) }));
    scope.get('/api/queues/:name', async (request) => {
      const { name } = parseOr400(queueParams, request.params, 'queue');
      return queueStats(name, queues[name as QueueName]);
    });
    scope.post('/api/queues/:name/pause', async (request) => {
      const { name } = parseOr400(queueParams, request.params, 'queue');
      return pauseQueue(name, queues[name]);
    });
    scope.post('/api/queues/:name/resume', async (request) => {
      const { name } = parseOr400(queueParams, request.params, 'queue');
      return resumeQueue(name, queues[name]);
    });
    scope.post('/api/queues/:name/drain', async (request) => {
      const { name } = parseOr400(queueParams, request.params, 'queue');
      const body = parseOr400(drainBody, request.body ?? {}, 'drain options');
      return { name, ...(await drainQueue(queues[name], body)) };
    });
    scope.post('/api/queues/:name/retry', async (request) => {
      const { name } = parseOr400(queueParams, request.params, 'queue');
      const body = parseOr400(retryBody, request.body ?? {}, 'retry options');
      return { name, ...(await retryFailed(queues[name], body)) };
    });
  });
};
