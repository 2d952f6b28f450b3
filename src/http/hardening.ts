// Hardening every route shares: security headers (helmet), rate limits on public routes
// (counted in Redis so every api process shares them), tighter body limits on public routes,
// a same-origin check on browser form posts (CSRF), and an inventory of registered routes.
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { App } from '../app.ts';
import { isSameOrigin } from './auth.ts';
import { HttpError } from './errors.ts';

/** Public pages take small form posts; the editor API keeps the server-wide limit. */
export const PUBLIC_BODY_LIMIT = 64 * 1024;

export interface RegisteredRoute {
  method: string[];
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after the hardening plugin (for audits and security tests). */
    routeCatalogue: RegisteredRoute[];
  }
}

/** Routes that carry their own authentication or serve scrapers, not the public. */
function isPrivatePath(url: string): boolean {
  const path = url.split('?')[0] ?? url;
  return (
    path.startsWith('/api/') ||
    path === '/api' ||
    path.startsWith('/admin/queues') ||
    path.startsWith('/admin/outbox') ||
    path === '/healthz' ||
    path === '/readyz' ||
    path === '/metrics'
  );
}

/**
 * Console pages behind sign-in: their own guard, and htmx polls them, so the per-address public
 * limit does not apply. The sign-in pages stay limited (and count failures on their own).
 */
function isSignedInConsolePath(url: string): boolean {
  const path = url.split('?')[0] ?? url;
  if (path === '/console/login' || path === '/console/set-password') return false;
  return path === '/console' || path.startsWith('/console/') || path.startsWith('/assets/');
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether the request is an RFC 8058 one-click unsubscribe: mail providers post it cross-site,
 * so it alone skips the origin check. Only `POST /unsubscribe` qualifies, with its body field;
 * the route then refuses it unless its token verifies.
 */
function isOneClickUnsubscribe(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0];
  const body = request.body;
  return (
    request.method === 'POST' &&
    path === '/unsubscribe' &&
    body !== null &&
    typeof body === 'object' &&
    (body as Record<string, unknown>)['List-Unsubscribe'] === 'One-Click'
  );
}

/** The media type of a Content-Type header, lower-cased, without parameters ('' if none). */
export function mediaTypeOf(request: FastifyRequest): string {
  const header = request.headers['content-type'];
  if (typeof header !== 'string') return '';
  return (header.split(';')[0] ?? '').trim().toLowerCase();
}

/** Whether a browser request's Origin is the public origin the service is reached at. */
function isPublicOrigin(request: FastifyRequest, publicUrl: string): boolean {
  const origin = request.headers.origin;
  if (typeof origin !== 'string') return false;
  try {
    return new URL(origin).origin === new URL(publicUrl).origin;
  } catch {
    return false;
  }
}

const hardeningPlugin: FastifyPluginAsync<{ app: App; publicRateLimit?: number }> = async (
  fastify: FastifyInstance,
  { app, publicRateLimit },
) => {
  const catalogue: RegisteredRoute[] = [];
  fastify.decorate('routeCatalogue', catalogue);
  fastify.addHook('onRoute', (route) => {
    const method = Array.isArray(route.method) ? route.method : [route.method];
    catalogue.push({ method: method.map(String), url: route.url });
    if (!isPrivatePath(route.url) && route.bodyLimit === undefined) {
      route.bodyLimit = PUBLIC_BODY_LIMIT;
    }
  });

  const https = app.config.PUBLIC_URL.startsWith('https:');
  await fastify.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: true,
      // On a plain-http origin other than localhost the browser would upgrade our own script
      // and form posts to https and break them: only ask for it when the site is https.
      directives: { upgradeInsecureRequests: https ? [] : null },
    },
    // Tell browsers to stay on https only when the site is https; COOP is ignored (with a
    // console error) on plain-http origins.
    strictTransportSecurity: https ? undefined : false,
    crossOriginOpenerPolicy: https ? undefined : false,
    // The RFC 8058 POST and the pages are reached from mail clients: no cross-origin isolation.
    crossOriginEmbedderPolicy: false,
    // Not no-referrer: with it, browsers send `Origin: null` on our own form posts, and the
    // same-origin check below could not tell them from a forged one.
    referrerPolicy: { policy: 'same-origin' },
  });

  await fastify.register(rateLimit, {
    global: true,
    max: publicRateLimit ?? app.config.PUBLIC_RATE_LIMIT,
    timeWindow: 60_000,
    redis: app.redis(),
    nameSpace: `${app.config.QUEUE_PREFIX}:ratelimit:`,
    // A Redis hiccup must not take the public pages down with it.
    skipOnError: true,
    allowList: (request) => isPrivatePath(request.url) || isSignedInConsolePath(request.url),
  });

  fastify.addHook('preHandler', async (request) => {
    if (!UNSAFE_METHODS.has(request.method) || isPrivatePath(request.url)) return;
    if (isSameOrigin(request) || isPublicOrigin(request, app.config.PUBLIC_URL)) return;
    // The one-click POST is authenticated by its signed token, checked by its route.
    if (isOneClickUnsubscribe(request)) return;
    throw new HttpError(403, 'cross-origin form post refused', {
      field: 'origin',
      message: 'forms must be posted from this site',
    });
  });
};

/** The hardening plugin; register it first, before any route family. */
export const hardening = fp(hardeningPlugin, { name: 'herald-hardening' });
