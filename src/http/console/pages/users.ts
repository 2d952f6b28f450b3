// /console/users (admin): the user list, creating a user (the set-password link is shown once,
// on the answer to the create form), and disabling one (their sessions end at their next
// request). Thin wiring over src/users.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../../../app.ts';
import { InputError } from '../../../errors/index.ts';
import { listUserPage, userListQuerySchema } from '../../../users/list.ts';
import { createUser, disableUser, setPasswordLink, userRoles } from '../../../users/repository.ts';
import { requireConsole } from '../guard.ts';
import { renderConsolePage } from '../render.ts';

const createBody = z.object({
  email: z.string().max(320).default(''),
  role: z.string().max(20).default(''),
});
const disableParams = z.object({ id: z.coerce.number().int().positive().max(2_147_483_647) });

export const usersPages: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const db = app.store.db;
  const guard = { onRequest: requireConsole('admin') };

  async function listPage(
    request: FastifyRequest,
    reply: FastifyReply,
    extra: {
      created?: { email: string; link: string | null };
      notice?: string;
      errors?: Array<{ field: string; message: string }>;
      values?: { email: string; role: string };
    } = {},
  ) {
    const raw = request.method === 'GET' ? (request.query as Record<string, unknown>) : {};
    const parsed = userListQuerySchema.safeParse({
      disabled: 'true',
      ...(typeof raw.cursor === 'string' ? { cursor: raw.cursor } : {}),
    });
    const query = parsed.success ? parsed.data : userListQuerySchema.parse({ disabled: 'true' });
    const page = await listUserPage(db, query);
    return renderConsolePage(request, reply, 'users', {
      title: 'Users',
      active: 'users',
      page,
      roles: userRoles,
      created: extra.created ?? null,
      notice: extra.notice ?? null,
      errors: extra.errors ?? [],
      values: extra.values ?? { email: '', role: 'editor' },
      cursorRefused: !parsed.success,
    });
  }

  fastify.get('/console/users', guard, async (request, reply) => listPage(request, reply));

  fastify.post('/console/users', guard, async (request, reply) => {
    const body = createBody.safeParse(request.body ?? {});
    const values = body.success ? body.data : { email: '', role: '' };
    try {
      const created = await createUser(db, { email: values.email, role: values.role });
      const link = created.setPasswordToken
        ? setPasswordLink(app.config.PUBLIC_URL, created.setPasswordToken)
        : null;
      reply.status(201);
      return listPage(request, reply, { created: { email: created.user.email, link } });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      reply.status(error.kind === 'conflict' ? 409 : 400);
      return listPage(request, reply, {
        errors: [{ field: error.field, message: error.message }],
        values: { email: values.email, role: values.role },
      });
    }
  });

  fastify.post('/console/users/:id/disable', guard, async (request, reply) => {
    const params = disableParams.safeParse(request.params);
    if (!params.success) {
      reply.status(404);
      return listPage(request, reply, { errors: [{ field: 'user', message: 'no such user' }] });
    }
    if (params.data.id === request.consoleUser!.id) {
      reply.status(409);
      return listPage(request, reply, {
        errors: [{ field: 'user', message: 'you cannot disable your own account' }],
      });
    }
    try {
      const user = await disableUser(db, params.data.id);
      return listPage(request, reply, { notice: `${user.email} is disabled and signed out.` });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      reply.status(404);
      return listPage(request, reply, { errors: [{ field: 'user', message: error.message }] });
    }
  });
};
