// GET /unsubscribe shows a button; POST /unsubscribe is both that button and the RFC 8058
// one-click POST mail clients send (`List-Unsubscribe=One-Click`, urlencoded or multipart).
import type { FastifyInstance } from 'fastify';
import { unsubscribe } from '../../subscribers/events.ts';
import { HttpError } from '../errors.ts';
import { messagePage, unsubscribePage } from '../views/pages.ts';
import { type PublicContext, page } from './context.ts';

/** RFC 8058 multipart bodies are one short field: anything bigger is not one. */
export const MULTIPART_BODY_LIMIT = 4 * 1024;
const MULTIPART_MAX_PARTS = 8;

/**
 * Parses RFC 8058's multipart/form-data variant (bodies of at most 4 kB, a few parts): only
 * named text fields are kept. Linear scans, no backtracking regex over the body.
 */
export function parseMultipartFields(body: string, contentType: string): Record<string, string> {
  const boundary = /boundary="?([^";]{1,70})"?/i.exec(contentType)?.[1];
  const fields: Record<string, string> = {};
  if (!boundary) return fields;
  const parts = body.split(`--${boundary}`, MULTIPART_MAX_PARTS + 2);
  for (const part of parts) {
    const split = part.indexOf('\r\n\r\n');
    const separator = split >= 0 ? split : part.indexOf('\n\n');
    if (separator < 0) continue;
    const headers = part.slice(0, separator);
    const name = /name="([^"]{1,100})"/.exec(headers)?.[1];
    if (!name) continue;
    const value = part.slice(separator + (split >= 0 ? 4 : 2));
    fields[name] = value.replace(/\r?\n$/, '');
  }
  return fields;
}

export function unsubscribeRoutes(fastify: FastifyInstance, ctx: PublicContext): void {
  const { db, log } = ctx;

  fastify.get('/unsubscribe', async (request, reply) => {
    const token = await ctx.verified('unsubscribe', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
    // A GET changes nothing: link scanners prefetch it.
    return page(reply, 200, unsubscribePage(token.token));
  });

  fastify.post('/unsubscribe', async (request, reply) => {
    const token = await ctx.verified('unsubscribe', request.query);
    if (!token.ok) return ctx.badLink(reply, token.reason);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body['List-Unsubscribe'] !== 'One-Click') {
      throw new HttpError(400, 'the body must be List-Unsubscribe=One-Click (RFC 8058)', {
        field: 'List-Unsubscribe',
      });
    }
    const { subscriberId, campaignId } = token.claims;
    await unsubscribe(db, subscriberId, { campaignId: campaignId ?? null });
    log.info({ subscriberId, campaignId }, 'subscribers.unsubscribed');
    // RFC 8058: answer 200, never a redirect.
    return page(
      reply,
      200,
      messagePage('You are unsubscribed', ['You will get no more emails from Herald.']),
    );
  });
}
