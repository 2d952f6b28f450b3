// Click redirects (/r/TOKEN) and the open image (/o/TOKEN). Thin wiring: the token is checked
// (HMAC only: no store round trip on the hot path), the URL comes from the campaign's stored
// link list (never from the token: no open redirect), the event goes to the recorder's buffer
// and the answer leaves at once.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { storeId } from '../../campaigns/model.ts';
import { classifyOpen } from '../../engagement/opens.ts';
import { createRecorder, type EngagementRecorder } from '../../engagement/recorder.ts';
import { campaignReport, campaignReportSchema } from '../../engagement/report.ts';
import { trackedLinkUrl } from '../../engagement/store.ts';
import { setCampaignClickTracking } from '../../engagement/tracking.ts';
import { topicTrendSchema, topicTrends } from '../../engagement/trends.ts';
import { subscriberDeliveries } from '../../ledger/reports.ts';
import { engagementDb } from '../../store/schema-engagement.ts';
import { verifyToken } from '../../tokens/index.ts';
import { topicIdSchema } from '../../topics/catalogue.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';
import { errorBodySchema } from '../openapi.ts';
import { messagePage } from '../views/pages.ts';

const tokenParams = z.object({ token: z.string().min(1).max(256) });
const idParams = z.object({ id: storeId('campaign') });
/** A campaign's click tracking: true/false, or null to follow TRACK_CLICKS. */
const topicParams = z.object({ id: topicIdSchema });
const trendsQuery = z.object({
  weeks: z.coerce.number().int('weeks is a whole number').min(1).max(104).default(8),
});
const trackingBody = z.object({ clicks: z.boolean().nullable() }).strict();

/** A transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Links cached per process: a campaign's links never change once stored. */
const LINK_CACHE_LIMIT = 10_000;

/** A Location header value: the stored URL, with any non-ASCII character percent-encoded. */
function locationOf(url: string): string {
  return /^[\x21-\x7e]*$/.test(url)
    ? url
    : url.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}

/**
 * The two routes answer without helmet's dozen headers (a redirect and an image have no page
 * to protect, and at thousands of redirects a second they cost a tenth of the time); the
 * headers that matter are set here.
 */
const LEAN = { helmet: false, config: { rateLimit: false } } as const;

function notFound(reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(
      messagePage('Link not found', [
        'This link is not valid: it may have been cut or changed when it was copied.',
      ]),
    );
}

export const engagementRoutes: FastifyPluginAsync<{
  app: App;
  recorder?: EngagementRecorder;
}> = async (fastify, { app, recorder: given }) => {
  const db = app.store.db;
  const { config } = app;
  const recorder = given ?? createRecorder(db, { logger: app.logger });
  // Flush what waits when the server closes (after in-flight requests), and with the app.
  fastify.addHook('onClose', async () => recorder.close());
  app.onClose(() => recorder.close());

  const links = new Map<string, string>();
  const linkUrl = async (campaignId: number, linkIndex: number): Promise<string | null> => {
    const key = `${campaignId}:${linkIndex}`;
    const cached = links.get(key);
    if (cached !== undefined) return cached;
    const url = await trackedLinkUrl(db, campaignId, linkIndex);
    if (url !== null) {
      if (links.size >= LINK_CACHE_LIMIT) links.delete(links.keys().next().value!);
      links.set(key, url);
    }
    return url;
  };

  // No rate limit: a redirect must never fail a reader behind a shared address, a bad token
  // costs one HMAC, and a good one only repeats its own subscriber's (deduplicated) click.
  fastify.get('/r/:token', LEAN, async (request, reply) => {
    const params = tokenParams.safeParse(request.params);
    if (!params.success) return notFound(reply);
    const verified = verifyToken(config.HERALD_SECRET, 'click', params.data.token);
    if (!verified.ok) return notFound(reply);
    const { campaignId, linkIndex, subscriberId, subscriberKey } = verified.claims;
    if (campaignId === undefined || linkIndex === undefined) return notFound(reply);
    const url = await linkUrl(campaignId, linkIndex);
    if (url === null) return notFound(reply);
    // HEAD (link checkers) follows the link without being a click.
    if (request.method === 'GET') {
      recorder.record({
        campaignId,
        subscriberId,
        subscriberKey,
        kind: 'click',
        linkIndex,
        at: new Date(),
      });
    }
    return reply
      .status(302)
      .header('location', locationOf(url))
      .header('cache-control', 'private, no-store')
      .header('referrer-policy', 'no-referrer')
      .send();
  });

  fastify.get('/o/:token', LEAN, async (request, reply) => {
    const image = () =>
      reply
        .status(200)
        .header('content-type', 'image/gif')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'private, no-store, max-age=0')
        .send(PIXEL);
    const params = tokenParams.safeParse(request.params);
    if (!params.success) return notFound(reply);
    const verified = verifyToken(config.HERALD_SECRET, 'open', params.data.token);
    if (!verified.ok) return notFound(reply);
    const { campaignId, subscriberId, subscriberKey } = verified.claims;
    if (campaignId === undefined || subscriberKey === undefined) return notFound(reply);
    if (!config.TRACK_OPENS || request.method !== 'GET') return image();
    const at = new Date();
    // Consent is read now, not at send time: a reader who withdrew it is not counted.
    const row = await engagementDb(db)
      .selectFrom('subscribers')
      .select(['token_key', 'open_tracking_consent'])
      .where('id', '=', subscriberId)
      .executeTakeFirst();
    if (!row) return image();
    const given = Buffer.from(subscriberKey, 'hex');
    const stored = Buffer.from(row.token_key, 'hex');
    const keyMatches = given.length === stored.length && timingSafeEqual(given, stored);
    if (keyMatches && Number(row.open_tracking_consent) === 1) {
      // The ledger's sent time of this message (the ledger module owns the deliveries table).
      const sent = (await subscriberDeliveries(db, subscriberId)).find(
        (delivery) => delivery.campaign_id === campaignId,
      );
      const kind = classifyOpen({
        userAgent: request.headers['user-agent'],
        sentAt: sent?.sent_at ?? null,
        at,
        machineSeconds: config.OPEN_MACHINE_SECONDS,
      });
      recorder.record({ campaignId, subscriberId, subscriberKey, kind, at });
    }
    return image();
  });

  // Editor API: the campaign's report, and its click-tracking override.
  const editor = requireRole(db, 'editor');
  fastify.get(
    '/api/campaigns/:id/report',
    {
      preHandler: editor,
      schema: {
        summary: "A campaign's delivery and engagement report (editor)",
        params: idParams,
        response: { 200: campaignReportSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'campaign id');
      const report = await campaignReport(db, id);
      if (!report)
        throw new HttpError(404, `no campaign ${id}`, [
          { field: 'id', message: 'no such campaign' },
        ]);
      return campaignReportSchema.parse(report);
    },
  );
  fastify.put(
    '/api/campaigns/:id/tracking',
    { preHandler: editor, schema: { params: idParams, body: trackingBody } },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'campaign id');
      const { clicks } = parseOr400(trackingBody, request.body, 'body');
      if (!(await setCampaignClickTracking(db, id, clicks))) {
        throw new HttpError(404, `no campaign ${id}`, [
          { field: 'id', message: 'no such campaign' },
        ]);
      }
      return { id, clicks };
    },
  );
  fastify.get(
    '/api/topics/:id/trends',
    {
      preHandler: editor,
      schema: {
        params: topicParams,
        querystring: trendsQuery,
        response: { 200: topicTrendSchema },
      },
    },
    async (request) => {
      const { id } = parseOr400(topicParams, request.params, 'topic id');
      const { weeks } = parseOr400(trendsQuery, request.query, 'query');
      const known = await db
        .selectFrom('topics')
        .select('id')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!known)
        throw new HttpError(404, `no topic ${id}`, [{ field: 'id', message: 'no such topic' }]);
      return topicTrendSchema.parse(await topicTrends(db, id, { weeks }));
    },
  );
};
