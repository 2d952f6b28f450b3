// /console/outbox (ops, editor): the messages the outbox transport wrote, newest first, a page
// at a time with the true total; each with its envelope sender and recipients, subject and
// date. A message's page shows its HTML in a sandboxed iframe (served with its own CSP: no
// script, no form, opaque origin), and links its text and raw source. /admin/outbox redirects.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import {
  pageOutbox,
  readOutboxMessage,
  readOutboxRaw,
  summariseOutbox,
} from '../../../ops/outbox.ts';
import { zodDetails } from '../../errors.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { renderProblem } from './ops-common.ts';
import { formatBytes, formatCount, formatInstant } from './ops-format.ts';

/** Messages per console page (each one's headers are read and parsed). */
export const CONSOLE_OUTBOX_PAGE_SIZE = 25;

export const outboxPageQuery = z.object({
  page: z.coerce
    .number({ message: 'page must be a whole number from 1' })
    .int('page must be a whole number from 1')
    .min(1, 'page must be a whole number from 1')
    .max(1_000_000, 'page must be at most 1,000,000')
    .default(1),
});

/** The CSP a message's own HTML is served with (inside the console's iframe, or alone). */
export const MESSAGE_CSP =
  "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; font-src *; frame-ancestors 'self'";

const helpers = { formatBytes, formatCount, formatInstant };

export const outboxPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const guard = { onRequest: requireConsole('ops', 'editor') };
  const dir = () => app.config.outboxDir;

  const missing = (request: FastifyRequest, reply: FastifyReply, name: string) =>
    renderProblem(request, reply, {
      status: 404,
      title: 'No such message',
      message: `The outbox holds no message named "${name.slice(0, 80)}".`,
      active: 'outbox',
      backHref: '/console/outbox',
      backLabel: 'Back to the outbox',
    });

  fastify.get('/console/outbox', guard, async (request, reply) => {
    const parsed = outboxPageQuery.safeParse(request.query);
    if (!parsed.success) {
      return renderProblem(request, reply, {
        status: 400,
        title: 'Outbox',
        message: zodDetails(parsed.error)
          .map((d) => d.message)
          .join('; '),
        active: 'outbox',
        backHref: '/console/outbox',
        backLabel: 'First page',
      });
    }
    const listed = await pageOutbox(dir(), parsed.data.page, CONSOLE_OUTBOX_PAGE_SIZE);
    const messages = await summariseOutbox(dir(), listed.entries);
    return renderConsolePage(request, reply, 'outbox', {
      title: 'Outbox',
      active: 'outbox',
      ...listed,
      messages,
      perPage: CONSOLE_OUTBOX_PAGE_SIZE,
      ...helpers,
    });
  });

  fastify.get('/console/outbox/:name', guard, async (request, reply) => {
    const name = String((request.params as { name: string }).name);
    const message = await readOutboxMessage(dir(), name);
    if (!message) return missing(request, reply, name);
    return renderConsolePage(request, reply, 'outbox-message', {
      title: message.subject || '(no subject)',
      active: 'outbox',
      message,
      href: `/console/outbox/${encodeURIComponent(name)}`,
      ...helpers,
    });
  });

  fastify.get('/console/outbox/:name/:view', guard, async (request, reply) => {
    const { name, view } = request.params as { name: string; view: string };
    if (view === 'raw') {
      const raw = await readOutboxRaw(dir(), name);
      if (!raw) return missing(request, reply, name);
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(raw);
    }
    if (view !== 'html' && view !== 'text') {
      return renderProblem(request, reply, {
        status: 404,
        title: 'No such view',
        message: `A message has three views: html, text and raw (not "${view.slice(0, 40)}").`,
        active: 'outbox',
        backHref: '/console/outbox',
        backLabel: 'Back to the outbox',
      });
    }
    const message = await readOutboxMessage(dir(), name);
    if (!message) return missing(request, reply, name);
    if (view === 'text') {
      return reply
        .type('text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(message.text ?? '');
    }
    const escaped = (message.text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return reply
      .header('content-security-policy', MESSAGE_CSP)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(message.html ?? `<pre>${escaped}</pre>`);
  });
};
