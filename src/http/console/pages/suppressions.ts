// /console/suppressions (ops read, admin remove): the addresses Herald never mails. Entries are
// keyed by the hash of the address, so search is by the exact address (any case); the list
// pages newest first with its true total, filtered by reason. Removal is for admins, after a
// confirm page; it goes through liftSuppression (the event and the log line by hash).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { parseEmail } from '../../../subscribers/identity.ts';
import {
  countSuppressions,
  findSuppression,
  liftSuppression,
  listSuppressions,
  suppressionById,
  suppressionReasons,
} from '../../../subscribers/suppressions.ts';
import { requireConsole, roleAllows } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { renderProblem } from './ops-common.ts';
import { formatCount, formatInstant } from './ops-format.ts';

/** Entries per page of the list. */
export const SUPPRESSIONS_PAGE_SIZE = 50;

const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

export const suppressionPageQuery = z.object({
  email: z.preprocess(
    blankToUndefined,
    z
      .string()
      .max(254, 'the address is longer than 254 characters')
      .refine((v) => parseEmail(v) !== null, 'is not an email address like name@example.org')
      .optional(),
  ),
  reason: z.preprocess(
    blankToUndefined,
    z
      .enum(suppressionReasons, {
        message: `reason must be one of ${suppressionReasons.join(', ')}`,
      })
      .optional(),
  ),
  page: z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ message: 'page must be a whole number from 1' })
      .int('page must be a whole number from 1')
      .min(1, 'page must be a whole number from 1')
      .max(1_000_000, 'page must be at most 1,000,000')
      .default(1),
  ),
  lifted: z.literal('1').optional().catch(undefined),
});

const idParams = z.object({ id: z.coerce.number().int().min(1).max(2_147_483_647) });

const REASON_LABELS: Record<string, string> = {
  'hard-bounce': 'Hard bounce',
  complaint: 'Complaint',
  unsubscribe: 'Unsubscribed',
  manual: 'Added by hand',
  erased: 'Erased (address gone)',
};

const helpers = {
  formatCount,
  formatInstant,
  reasonLabels: REASON_LABELS,
  reasons: suppressionReasons,
};

export const suppressionPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;

  fastify.get(
    '/console/suppressions',
    { onRequest: requireConsole('ops') },
    async (request, reply) => {
      const raw = (request.query ?? {}) as Record<string, unknown>;
      const canRemove = roleAllows(request.consoleUser!.role, ['admin']);
      const parsed = suppressionPageQuery.safeParse(raw);
      const values = {
        email: typeof raw.email === 'string' ? raw.email.slice(0, 300) : '',
        reason: typeof raw.reason === 'string' ? raw.reason : '',
      };
      if (!parsed.success) {
        const errors: Record<string, string> = {};
        for (const issue of parsed.error.issues) {
          const field = String(issue.path[0] ?? 'email');
          errors[field] ??= issue.message;
        }
        reply.status(400);
        return renderConsolePage(request, reply, 'suppressions', {
          title: 'Suppressions',
          active: 'suppressions',
          values,
          errors,
          search: null,
          entries: [],
          total: 0,
          page: 1,
          pages: 1,
          canRemove,
          notice: null,
          ...helpers,
        });
      }
      const query = parsed.data;
      const notice = query.lifted ? 'Removed the address from the suppression list.' : null;
      if (query.email) {
        const found = await findSuppression(db, query.email);
        return renderConsolePage(request, reply, 'suppressions', {
          title: 'Suppressions',
          active: 'suppressions',
          values,
          errors: {},
          search: { email: query.email.trim(), found },
          entries: found ? [found] : [],
          total: found ? 1 : 0,
          page: 1,
          pages: 1,
          canRemove,
          notice,
          ...helpers,
        });
      }
      const total = await countSuppressions(db, { reason: query.reason });
      const pages = Math.max(1, Math.ceil(total / SUPPRESSIONS_PAGE_SIZE));
      const page = Math.min(query.page, pages);
      const entries = await listSuppressions(db, {
        reason: query.reason,
        limit: SUPPRESSIONS_PAGE_SIZE,
        offset: (page - 1) * SUPPRESSIONS_PAGE_SIZE,
        newestFirst: true,
      });
      return renderConsolePage(request, reply, 'suppressions', {
        title: 'Suppressions',
        active: 'suppressions',
        values,
        errors: {},
        search: null,
        entries,
        total,
        page,
        pages,
        perPage: SUPPRESSIONS_PAGE_SIZE,
        canRemove,
        notice,
        ...helpers,
      });
    },
  );

  /** The entry in the URL, or a 404 page. */
  async function namedEntry(request: FastifyRequest, reply: FastifyReply) {
    const params = idParams.safeParse(request.params);
    const entry = params.success ? await suppressionById(db, params.data.id) : null;
    if (entry) return entry;
    await renderProblem(request, reply, {
      status: 404,
      title: 'Not on the list',
      message: 'That suppression is not on the list (it may have been removed already).',
      active: 'suppressions',
      backHref: '/console/suppressions',
      backLabel: 'Back to suppressions',
    });
    return null;
  }

  const erasedProblem = (request: FastifyRequest, reply: FastifyReply) =>
    renderProblem(request, reply, {
      status: 409,
      title: 'Cannot remove',
      message:
        'This entry belongs to an erased subscriber: only its hash is kept, so that the address is never mailed again. It cannot be removed here.',
      active: 'suppressions',
      backHref: '/console/suppressions',
      backLabel: 'Back to suppressions',
    });

  fastify.get(
    '/console/suppressions/:id/remove',
    { onRequest: requireConsole('admin') },
    async (request, reply) => {
      const entry = await namedEntry(request, reply);
      if (!entry) return reply;
      if (entry.email === null) return erasedProblem(request, reply);
      return renderConsolePage(request, reply, 'suppressions-remove', {
        title: 'Remove a suppression?',
        active: 'suppressions',
        entry,
        ...helpers,
      });
    },
  );

  fastify.post(
    '/console/suppressions/:id/remove',
    { onRequest: requireConsole('admin') },
    async (request, reply) => {
      const entry = await namedEntry(request, reply);
      if (!entry) return reply;
      if (entry.email === null) return erasedProblem(request, reply);
      await liftSuppression(db, app.logger, entry.email, request.consoleUser!.email);
      return reply.redirect('/console/suppressions?lifted=1', 303);
    },
  );
};
