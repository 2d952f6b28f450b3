// Ops routes: /readyz (ops role), the queue dashboard (/admin/queues), the outbox viewer
// (/admin/outbox), both under the console sign-in (src/http/console), and the /api/queues
// endpoints (API keys).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync } from 'fastify';
import Handlebars from 'handlebars';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { ALL_QUEUES, type QueueName } from '../../delivery/queues.ts';
import { pageOutbox, readOutboxMessage, readOutboxRaw } from '../../ops/outbox.ts';
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
import { HttpError, parseOr400 } from '../errors.ts';

const escapeHtml = (value: string) => Handlebars.Utils.escapeExpression(value);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}
td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}</style></head>
<body>${body}</body></html>`;
}

const queueParams = z.object({ name: z.enum(ALL_QUEUES) });
const drainBody = z.object({ delayed: z.boolean().optional() }).strict();
const retryBody = z.object({ campaignId: z.number().int().positive().optional() }).strict();
const outboxParams = z.object({ name: z.string().min(1).max(300) });
const outboxQuery = z.object({
  page: z.coerce.number().int('must be a whole number').min(1).max(1_000_000).default(1),
});
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

  // The outbox viewer, for ops and editors.
  await fastify.register(async (scope) => {
    scope.addHook('onRequest', requireConsole('ops', 'editor'));
    scope.get('/admin/outbox', async (request, reply) => {
      const { page: wanted } = parseOr400(outboxQuery, request.query, 'outbox page');
      const listed = await pageOutbox(app.config.outboxDir, wanted);
      const rows = listed.entries
        .map((entry) => {
          const name = encodeURIComponent(entry.name);
          return `<tr><td>${escapeHtml(entry.modifiedAt)}</td><td>${escapeHtml(entry.name)}</td><td>${entry.size}</td>
<td><a href="/admin/outbox/${name}/html">HTML</a> · <a href="/admin/outbox/${name}/text">text</a> · <a href="/admin/outbox/${name}/raw">source</a></td></tr>`;
        })
        .join('\n');
      const count = new Intl.NumberFormat('en').format(listed.total);
      const nav = [
        listed.page > 1
          ? `<a href="/admin/outbox?page=${listed.page - 1}" rel="prev">newer</a>`
          : '',
        listed.page < listed.pages
          ? `<a href="/admin/outbox?page=${listed.page + 1}" rel="next">older</a>`
          : '',
      ]
        .filter(Boolean)
        .join(' · ');
      return reply.type('text/html; charset=utf-8').send(
        page(
          'Herald outbox',
          `<h1>Outbox</h1><p>${count} message(s), newest first; page ${listed.page} of ${listed.pages}.</p>
<table><thead><tr><th>written</th><th>file</th><th>bytes</th><th>view</th></tr></thead><tbody>${rows}</tbody></table>
${nav ? `<nav aria-label="outbox pages"><p>${nav}</p></nav>` : ''}`,
        ),
      );
    });
    scope.get('/admin/outbox/:name/:view', async (request, reply) => {
      const { name } = parseOr400(outboxParams, request.params, 'outbox message');
      const view = (request.params as { view: string }).view;
      if (view === 'raw') {
        const raw = await readOutboxRaw(app.config.outboxDir, name);
        if (!raw) throw new HttpError(404, `no outbox message ${name}`);
        return reply.type('text/plain; charset=utf-8').send(raw);
      }
      if (view !== 'html' && view !== 'text') {
        throw new HttpError(404, `no view ${view}`, {
          field: 'view',
          message: 'html, text or raw',
        });
      }
      const message = await readOutboxMessage(app.config.outboxDir, name);
      if (!message) throw new HttpError(404, `no outbox message ${name}`);
      if (view === 'text') return reply.type('text/plain; charset=utf-8').send(message.text ?? '');
      // The message's own HTML, in a sandbox: no script runs, no form posts, opaque origin.
      return reply
        .header(
          'content-security-policy',
          "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; font-src *",
        )
        .type('text/html; charset=utf-8')
        .send(message.html ?? `<pre>${escapeHtml(message.text ?? '')}</pre>`);
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
