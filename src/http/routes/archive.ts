// The public archive (each sent newsletter's web version, per-topic indexes, RSS feeds) and
// the editor's switch that keeps a campaign out of it. Thin wiring over src/archive.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { archiveUrl, isArchivable } from '../../archive/links.ts';
import { archiveFeed, archiveIndex, archiveIssue, type SiteAnswer } from '../../archive/pages.ts';
import { setArchived } from '../../archive/repository.ts';
import { storeId } from '../../campaigns/model.ts';
import { CampaignError } from '../../campaigns/repository.ts';
import { topicIdSchema } from '../../topics/catalogue.ts';
import { requireRole } from '../auth.ts';
import { HttpError, parseOr400 } from '../errors.ts';

/** Browsers and proxies may keep an archive page this long (seconds); a withdrawn one goes soon. */
const CACHE_SECONDS = 300;

const pageQuery = z.object({
  page: z.coerce
    .number('page is a whole number from 1')
    .int('page is a whole number from 1')
    .min(1, 'page is a whole number from 1')
    .max(100_000, 'page is at most 100000')
    .default(1),
});
const topicParams = z.object({ topic: topicIdSchema });
/** `<id>` or `<id>-<slug>`; the slug is for readers, the id finds the campaign. */
const issueParams = z.object({
  ref: z
    .string()
    .regex(/^[1-9][0-9]{0,9}(-[a-z0-9-]*)?$/, 'an archive address is /archive/<id>-<title words>'),
});
const idParams = z.object({ id: storeId('campaign') });
const archiveBody = z.object({ archive: z.boolean('archive is true or false') }).strict();

function send(reply: FastifyReply, answer: SiteAnswer): FastifyReply {
  if (answer.redirect) return reply.redirect(answer.redirect, 301);
  return reply
    .status(answer.status)
    .header('content-type', answer.contentType)
    .header(
      'cache-control',
      answer.status === 200 ? `public, max-age=${CACHE_SECONDS}` : 'public, max-age=60',
    )
    .send(answer.body);
}

export const archiveRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const deps = { db: app.store.db, config: app.config };

  fastify.get('/archive', async (request, reply) => {
    const { page } = parseOr400(pageQuery, request.query, 'archive page');
    return send(reply, await archiveIndex(deps, undefined, page));
  });

  fastify.get('/archive/rss.xml', async (_request, reply) =>
    send(reply, await archiveFeed(deps, undefined)),
  );

  fastify.get('/archive/topics/:topic', async (request, reply) => {
    const { topic } = parseOr400(topicParams, request.params, 'topic');
    const { page } = parseOr400(pageQuery, request.query, 'archive page');
    return send(reply, await archiveIndex(deps, topic, page));
  });

  fastify.get('/archive/topics/:topic/rss.xml', async (request, reply) => {
    const { topic } = parseOr400(topicParams, request.params, 'topic');
    return send(reply, await archiveFeed(deps, topic));
  });

  fastify.get('/archive/:ref', async (request, reply) => {
    const { ref } = parseOr400(issueParams, request.params, 'archive address');
    return send(reply, await archiveIssue(deps, Number.parseInt(ref, 10), ref));
  });

  // Editors: keep a campaign out of the archive (`{"archive": false}`) or put it back.
  fastify.put(
    '/api/campaigns/:id/archive',
    { preHandler: requireRole(app.store.db, 'editor') },
    async (request) => {
      const { id } = parseOr400(idParams, request.params, 'campaign id');
      const { archive } = parseOr400(archiveBody, request.body ?? {}, 'archive');
      try {
        const campaign = await setArchived(app.store.db, id, archive, new Date().toISOString());
        return {
          id: campaign.id,
          archive: campaign.archive,
          url: isArchivable(campaign) ? archiveUrl(app.config.PUBLIC_URL, campaign) : null,
        };
      } catch (error) {
        if (error instanceof CampaignError)
          throw new HttpError(error.status, error.message, [
            { field: error.field, message: error.message },
          ]);
        throw error;
      }
    },
  );
};
