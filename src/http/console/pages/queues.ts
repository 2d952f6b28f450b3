// /console/queues (ops): every queue's counts inside the console, with pause, resume, retry
// failed and drain (drain asks on a confirm page first). Each action is a CSRF-checked form
// post answered with a redirect back to the table (its notice in the query, so a reload
// repeats nothing). bull-board stays at /admin/queues under the same sign-in: its app needs
// inline scripts our CSP refuses, so the console links to it (no frame).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { ALL_QUEUES, type QueueName } from '../../../delivery/queues.ts';
import { queueHealth } from '../../../ops/dashboard.ts';
import {
  drainQueue,
  isQueueName,
  pauseQueue,
  queueStats,
  resumeQueue,
  retryFailed,
} from '../../../ops/queues.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { renderProblem } from './ops-common.ts';
import { formatCount } from './ops-format.ts';

const ACTIONS = ['paused', 'resumed', 'retried', 'drained'] as const;
/** The notice a redirect after an action carries; anything else shows no notice. */
const noticeQuery = z.object({
  done: z.enum(ACTIONS),
  queue: z.enum(ALL_QUEUES as [QueueName, ...QueueName[]]),
  n: z.coerce.number().int().min(0).max(1_000_000_000).optional(),
});
/** The drain form: the checkbox sends "on" when ticked. */
const drainForm = z.object({ _csrf: z.string().optional(), delayed: z.literal('on').optional() });

/** The notice text for a finished action. */
export function queueNotice(notice: z.infer<typeof noticeQuery>): string {
  const n = formatCount(notice.n ?? 0);
  switch (notice.done) {
    case 'paused':
      return `Paused ${notice.queue}: its workers take no new job until you resume it.`;
    case 'resumed':
      return `Resumed ${notice.queue}.`;
    case 'retried':
      return `Moved ${n} failed job(s) of ${notice.queue} back to waiting.`;
    case 'drained':
      return `Drained ${notice.queue}: removed ${n} waiting job(s). The reconciler rebuilds unsent work from the ledger.`;
  }
}

export const queuePages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const guard = { onRequest: requireConsole('ops') };

  /** The queue named in the URL, or a 404 page saying which names exist. */
  async function namedQueue(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<QueueName | null> {
    const name = (request.params as { name?: string }).name ?? '';
    if (isQueueName(name)) return name;
    await renderProblem(request, reply, {
      status: 404,
      title: 'No such queue',
      message: `There is no queue named "${name.slice(0, 60)}". Herald's queues are ${ALL_QUEUES.join(', ')}.`,
      active: 'queues',
      backHref: '/console/queues',
      backLabel: 'Back to queues',
    });
    return null;
  }

  fastify.get('/console/queues', guard, async (request, reply) => {
    const notice = noticeQuery.safeParse(request.query);
    const health = await queueHealth(await app.queues());
    return renderConsolePage(request, reply, 'queues', {
      title: 'Queues',
      active: 'queues',
      ...health,
      notice: notice.success ? queueNotice(notice.data) : null,
      formatCount,
    });
  });

  const done = (reply: FastifyReply, action: (typeof ACTIONS)[number], queue: string, n?: number) =>
    reply.redirect(
      `/console/queues?done=${action}&queue=${encodeURIComponent(queue)}${n === undefined ? '' : `&n=${n}`}`,
      303,
    );

  fastify.post('/console/queues/:name/pause', guard, async (request, reply) => {
    const name = await namedQueue(request, reply);
    if (!name) return reply;
    await pauseQueue(name, (await app.queues())[name]);
    app.logger.info({ queue: name, by: request.consoleUser?.id }, 'console.queue.paused');
    return done(reply, 'paused', name);
  });

  fastify.post('/console/queues/:name/resume', guard, async (request, reply) => {
    const name = await namedQueue(request, reply);
    if (!name) return reply;
    await resumeQueue(name, (await app.queues())[name]);
    app.logger.info({ queue: name, by: request.consoleUser?.id }, 'console.queue.resumed');
    return done(reply, 'resumed', name);
  });

  fastify.post('/console/queues/:name/retry', guard, async (request, reply) => {
    const name = await namedQueue(request, reply);
    if (!name) return reply;
    const { retried } = await retryFailed((await app.queues())[name]);
    app.logger.info({ queue: name, retried, by: request.consoleUser?.id }, 'console.queue.retried');
    return done(reply, 'retried', name, retried);
  });

  fastify.get('/console/queues/:name/drain', guard, async (request, reply) => {
    const name = await namedQueue(request, reply);
    if (!name) return reply;
    const stats = await queueStats(name, (await app.queues())[name]);
    return renderConsolePage(request, reply, 'queues-drain', {
      title: `Drain ${name}?`,
      active: 'queues',
      queue: stats,
      formatCount,
      error: null,
    });
  });

  fastify.post('/console/queues/:name/drain', guard, async (request, reply) => {
    const name = await namedQueue(request, reply);
    if (!name) return reply;
    const form = drainForm.safeParse(request.body ?? {});
    if (!form.success) {
      const stats = await queueStats(name, (await app.queues())[name]);
      reply.status(400);
      return renderConsolePage(request, reply, 'queues-drain', {
        title: `Drain ${name}?`,
        active: 'queues',
        queue: stats,
        formatCount,
        error: 'The "also remove delayed jobs" box takes only a tick: nothing was removed.',
      });
    }
    const { removed } = await drainQueue((await app.queues())[name], {
      delayed: form.data.delayed === 'on',
    });
    app.logger.warn({ queue: name, removed, by: request.consoleUser?.id }, 'console.queue.drained');
    return done(reply, 'drained', name, removed);
  });
};
