// Editor API for alert rules: list, add, remove.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  addAlertRule,
  alertRuleInputSchema,
  listAlertRules,
  removeAlertRule,
} from '../../alerts/rules.ts';
import type { App } from '../../app.ts';
import { requireRole } from '../auth.ts';
import { parseOr400 } from '../errors.ts';

const idParams = z.object({ id: z.coerce.number().int().positive() });

export async function alertRoutes(server: FastifyInstance, { app }: { app: App }): Promise<void> {
  server.addHook('preHandler', requireRole(app.store.db, 'editor'));
  server.get('/api/alert-rules', async () => listAlertRules(app.store.db));
  server.post('/api/alert-rules', async (request, reply) => {
    const body = request.body ?? {};
    // Checked here for a 400 naming the field; addAlertRule checks again (and the topic).
    parseOr400(alertRuleInputSchema, body, 'alert rule');
    const rule = await addAlertRule(app.store.db, body as z.input<typeof alertRuleInputSchema>);
    return reply.status(201).send(rule);
  });
  server.delete('/api/alert-rules/:id', async (request) => {
    const { id } = parseOr400(idParams, request.params, 'rule id');
    await removeAlertRule(app.store.db, id);
    return { id, removed: true };
  });
}
