// /console/keys (admin): API keys for scripts. Create one (its key is shown once, on the page
// the create answers with, never in a URL or a log), list them newest first (live ones, or all
// with the revoked), revoke one after a confirm page.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { apiRoles, createApiKey, revokeApiKey } from '../../../keys/index.ts';
import { findKey, keyListQuerySchema, listKeys } from '../../../keys/list.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';
import { renderProblem } from './ops-common.ts';
import { formatCount, formatInstant } from './ops-format.ts';

export const createKeyForm = z.object({
  _csrf: z.string().optional(),
  role: z.enum(apiRoles, { message: `choose one of ${apiRoles.join(', ')}` }),
  label: z
    .string()
    .trim()
    .max(100, 'keep the label under 100 characters')
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'the label cannot hold control characters')
    .optional()
    .transform((v) => (v ? v : null)),
});

const idParams = z.object({ id: z.coerce.number().int().min(1).max(2_147_483_647) });
const helpers = { formatCount, formatInstant, roles: apiRoles };

interface KeysPageState {
  form: { role: string; label: string };
  errors: Record<string, string>;
  created: { id: number; key: string; role: string } | null;
  notice: string | null;
}

export const keyPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const guard = { onRequest: requireConsole('admin') };

  async function renderKeys(
    request: FastifyRequest,
    reply: FastifyReply,
    state: KeysPageState,
    rawQuery: unknown = {},
  ) {
    const parsed = keyListQuerySchema.safeParse(rawQuery);
    const query = parsed.success ? parsed.data : keyListQuerySchema.parse({});
    if (!parsed.success) {
      reply.status(400);
      state.notice = null;
      state.errors.list = parsed.error.issues.map((issue) => issue.message).join('; ');
    }
    const page = await listKeys(db, { ...query, limit: query.limit });
    return renderConsolePage(request, reply, 'keys', {
      title: 'API keys',
      active: 'keys',
      ...state,
      keys: page.items,
      total: page.total ?? page.items.length,
      next: page.next,
      showRevoked: query.revoked === true,
      ...helpers,
    });
  }

  const empty = (): KeysPageState => ({
    form: { role: 'editor', label: '' },
    errors: {},
    created: null,
    notice: null,
  });

  fastify.get('/console/keys', guard, async (request, reply) => {
    const query = { ...((request.query ?? {}) as Record<string, unknown>) };
    const state = empty();
    if (query.revokedKey === '1')
      state.notice = 'Revoked the key: scripts using it are refused from now on.';
    delete query.revokedKey;
    return renderKeys(request, reply, state, query);
  });

  fastify.post('/console/keys', guard, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const parsed = createKeyForm.safeParse(body);
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues)
        errors[String(issue.path[0] ?? 'role')] ??= issue.message;
      reply.status(422);
      return renderKeys(request, reply, {
        form: {
          role: typeof body.role === 'string' ? body.role : '',
          label: typeof body.label === 'string' ? body.label.slice(0, 200) : '',
        },
        errors,
        created: null,
        notice: null,
      });
    }
    const created = await createApiKey(db, parsed.data.role, parsed.data.label);
    app.logger.info(
      { keyId: created.id, role: created.role, by: request.consoleUser?.id },
      'console.key.created',
    );
    reply.status(201);
    return renderKeys(request, reply, { ...empty(), created });
  });

  async function namedKey(request: FastifyRequest, reply: FastifyReply) {
    const params = idParams.safeParse(request.params);
    const key = params.success ? await findKey(db, params.data.id) : null;
    if (key && key.revokedAt === null) return key;
    await renderProblem(request, reply, {
      status: 404,
      title: 'No such key',
      message: key ? 'That key is revoked already.' : 'There is no API key with that id.',
      active: 'keys',
      backHref: '/console/keys',
      backLabel: 'Back to API keys',
    });
    return null;
  }

  fastify.get('/console/keys/:id/revoke', guard, async (request, reply) => {
    const key = await namedKey(request, reply);
    if (!key) return reply;
    return renderConsolePage(request, reply, 'keys-revoke', {
      title: 'Revoke an API key?',
      active: 'keys',
      key,
      ...helpers,
    });
  });

  fastify.post('/console/keys/:id/revoke', guard, async (request, reply) => {
    const key = await namedKey(request, reply);
    if (!key) return reply;
    await revokeApiKey(db, key.id);
    app.logger.info({ keyId: key.id, by: request.consoleUser?.id }, 'console.key.revoked');
    return reply.redirect('/console/keys?revokedKey=1', 303);
  });
};
