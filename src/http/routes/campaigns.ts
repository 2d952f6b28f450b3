// Editor API for campaigns: create, read (with status counts), send, schedule (at an instant or
// at a local time in each subscriber's zone), unschedule, pause, resume, cancel.
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import {
  campaignListItemSchema,
  campaignListQuerySchema,
  listCampaigns,
} from '../../campaigns/list.ts';
import { createCampaignSchema, storeId } from '../../campaigns/model.ts';
import { campaignStatus, createCampaign, requireCampaign } from '../../campaigns/repository.ts';
import { isKnownZone, resolveAt } from '../../campaigns/schedule.ts';
import {
  type ControlDeps,
  cancelCampaign,
  pauseCampaign,
  resumeCampaign,
  scheduleCampaign,
  scheduleCampaignAtLocalTime,
  sendCampaign,
  unscheduleCampaign,
} from '../../delivery/control.ts';
import { campaignWarnings } from '../../delivery/renderer.ts';
import { requireRole } from '../auth.ts';
import { parseOr400 } from '../errors.ts';
import { listPageSchema } from '../openapi.ts';

const idParams = z.object({ id: storeId('campaign') });
/** `{at}` (an instant; or a local date-time with `timezone`) or `{localTime}` (HH:MM, each zone). */
const scheduleBody = z
  .object({
    at: z.string().optional(),
    timezone: z
      .string()
      .refine(isKnownZone, 'timezone must be a known IANA time zone, e.g. Europe/Paris')
      .optional(),
    localTime: z.string().optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.at === undefined) === (body.localTime === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['at'],
        message: 'give exactly one of at (ISO-8601 instant) or localTime (HH:MM)',
      });
    }
    if (body.timezone !== undefined && body.at === undefined) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'timezone goes with at' });
    }
    if (body.at !== undefined && !resolveAt(body.at, body.timezone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['at'],
        message:
          'at must be an ISO-8601 instant with an offset (e.g. 2026-12-01T07:00:00Z), or a local date-time with timezone',
      });
    }
  });

export const campaignRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const deps: ControlDeps = {
    db: app.store.db,
    config: app.config,
    queues: await app.queues(),
    now: () => new Date(),
  };
  fastify.addHook('preHandler', requireRole(app.store.db, 'editor'));
  // A CampaignError is an InputError: the server's error handler answers it 400/404/409.
  fastify.get(
    '/api/campaigns',
    {
      schema: {
        summary: 'Campaigns, newest first, with ledger counts (editor)',
        querystring: campaignListQuerySchema,
        response: { 200: listPageSchema(campaignListItemSchema) },
      },
    },
    async (request) =>
      listCampaigns(app.store.db, parseOr400(campaignListQuerySchema, request.query, 'query')),
  );

  fastify.post(
    '/api/campaigns',
    { schema: { body: createCampaignSchema } },
    async (request, reply) => {
      const input = parseOr400(createCampaignSchema, request.body, 'campaign');
      const created = await createCampaign(app.store.db, input, deps.now().toISOString());
      const warnings = await campaignWarnings(app.store.db, app.config, created.campaign);
      return reply
        .status(201)
        .send({ ...created.campaign, audienceSize: created.audienceSize, warnings });
    },
  );

  fastify.get('/api/campaigns/:id', { schema: { params: idParams } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'campaign id');
    return {
      ...(await requireCampaign(app.store.db, id)),
      counts: await campaignStatus(app.store.db, id),
    };
  });

  const actions = {
    send: sendCampaign,
    pause: pauseCampaign,
    resume: resumeCampaign,
    cancel: cancelCampaign,
    unschedule: unscheduleCampaign,
  } as const;
  for (const [name, action] of Object.entries(actions)) {
    fastify.post(
      `/api/campaigns/:id/${name}`,
      { schema: { params: idParams } },
      async (request) => {
        const { id } = parseOr400(idParams, request.params, 'campaign id');
        return action(deps, id);
      },
    );
  }

  fastify.post(
    '/api/campaigns/:id/schedule',
    { schema: { params: idParams, body: scheduleBody } },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'campaign id');
      const body = parseOr400(scheduleBody, request.body ?? {}, 'schedule');
      return body.at !== undefined
        ? scheduleCampaign(deps, id, resolveAt(body.at, body.timezone) ?? new Date(Number.NaN))
        : scheduleCampaignAtLocalTime(deps, id, body.localTime ?? '');
    },
  );
};
