// The console's sign-in guard: `requireConsole(...roles)` is an onRequest hook that reads the
// session cookie, loads the user (a disabled user's session ends here, at their next request)
// and checks the role; a preHandler installed once (consoleAuth) refuses any non-GET console
// request without the session's CSRF token. The login form's own CSRF is a double-submit
// cookie (./login.ts), since there is no session yet.
import { timingSafeEqual } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import type { App } from '../../app.ts';
import type { UserRole } from '../../store/schema-users.ts';
import { findUserById } from '../../users/repository.ts';
import {
  CONSOLE_COOKIE,
  type ConsoleSessions,
  consoleSessions,
  cookieOf,
  isSameOrigin,
} from '../auth.ts';

export type Role = UserRole;

/** The signed-in console user, as pages see it. */
export interface ConsoleUser {
  id: number;
  email: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by requireConsole: who is signed in. */
    consoleUser?: ConsoleUser;
    /** Set by requireConsole: the token forms post as `_csrf` (htmx sends x-csrf-token). */
    csrfToken?: string;
  }
  interface FastifyInstance {
    consoleAuth: ConsoleAuth;
  }
  interface FastifyReply {
    /** Renders a console view (views/*.eta) to a string: see render.ts. */
    consoleViewAsync(page: string, data?: object, opts?: { layout?: string }): Promise<string>;
  }
}

export interface ConsoleAuth {
  app: App;
  sessions: ConsoleSessions;
  /** Whether cookies get the Secure attribute (PUBLIC_URL is https). */
  secureCookies: boolean;
  /** Renders the "not available to your role" page (set by the console plugin). */
  renderForbidden?: (
    request: FastifyRequest,
    reply: FastifyReply,
    message: string,
  ) => Promise<unknown>;
}

/** The console's eta views (copied beside the build by bin/build.js). */
export const VIEWS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'views');

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a role passes a check for `roles` (admin passes every one; no roles: any user). */
export function roleAllows(role: Role, roles: readonly Role[]): boolean {
  return role === 'admin' || roles.length === 0 || roles.includes(role);
}

/** Constant-time comparison of two tokens (false when either is missing). */
export function tokensMatch(presented: string | null | undefined, expected: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The CSRF token a request presents: header x-csrf-token, or the form field _csrf. */
export function presentedCsrf(request: FastifyRequest): string | null {
  const header = request.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  const body = request.body;
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const field = (body as Record<string, unknown>)._csrf;
    if (typeof field === 'string') return field;
  }
  return null;
}

/** Only our own console paths may be a `next` target; anything else falls back to /console. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 500) return '/console';
  // One leading slash, then console; no `//`, no backslash, no scheme, no control characters.
  if (!/^\/console(?:[/?#][A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?$/.test(next)) return '/console';
  if (next.includes('//') || next.includes('\\') || /%2f|%5c/i.test(next)) return '/console';
  return next;
}

function wantsRedirect(request: FastifyRequest): boolean {
  return request.method === 'GET' || request.method === 'HEAD';
}

/**
 * An onRequest hook for console pages: no session → a GET is sent to /console/login?next=…
 * (303), anything else gets 401; a role outside `roles` → 403 "not available to your role".
 * Sets request.consoleUser and request.csrfToken.
 */
export function requireConsole(...roles: Role[]): onRequestAsyncHookHandler {
  return async function consoleGuard(this: FastifyInstance, request, reply) {
    const auth = request.server.consoleAuth;
    const sessionId = cookieOf(request, CONSOLE_COOKIE);
    const session = sessionId ? await auth.sessions.read(sessionId) : null;
    const user = session ? await findUserById(auth.app.store.db, session.userId) : null;
    if (!session || !user || user.disabledAt) {
      // A disabled user's session is ended for good, not only refused.
      if (sessionId && session) await auth.sessions.close(sessionId);
      if (wantsRedirect(request)) {
        const next = safeNext(request.url);
        const target =
          next === '/console'
            ? '/console/login'
            : `/console/login?next=${encodeURIComponent(next)}`;
        // htmx follows redirects inside the page; HX-Redirect makes it load the login page whole.
        if (request.headers['hx-request']) reply.header('hx-redirect', target);
        await reply.redirect(target, 303);
        return reply;
      }
      await reply
        .status(401)
        .type('text/plain; charset=utf-8')
        .send('You are signed out: sign in again at /console/login.');
      return reply;
    }
    request.consoleUser = { id: user.id, email: user.email, role: user.role };
    request.csrfToken = session.csrfSecret;
    if (!roleAllows(user.role, roles)) {
      const message = 'This page is not available to your role.';
      if (auth.renderForbidden) await auth.renderForbidden(request, reply, message);
      else await reply.status(403).type('text/plain; charset=utf-8').send(message);
      return reply;
    }
  };
}

/**
 * Registers what the guard needs on the root instance (sessions, the app) and the one CSRF
 * check: every non-GET request a guard let through must carry the session's token, before
 * any handler runs (so nothing changes without it). bull-board's own API under /admin/queues
 * cannot send our token; its JSON calls keep the same-origin check they had.
 */
export const consoleAuth = fp(
  async (fastify: FastifyInstance, { app }: { app: App }) => {
    // Console views on every route (the /admin pages' 403 too), under their own name:
    // bull-board brings its own @fastify/view as reply.view in its scope.
    // autoEscape: `<%= %>` escapes; `<%~ %>` (raw) only for HTML we built (the layout body).
    await fastify.register(fastifyView, {
      engine: { eta: new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true }) },
      templates: VIEWS_DIR,
      production: true,
      propertyName: 'consoleView',
    });
    fastify.decorate('consoleAuth', {
      app,
      sessions: consoleSessions(() => app.redis(), app.config.QUEUE_PREFIX),
      secureCookies: app.config.PUBLIC_URL.startsWith('https:'),
    } satisfies ConsoleAuth);
    fastify.addHook('preHandler', async (request, reply) => {
      if (!request.consoleUser || !request.csrfToken || SAFE_METHODS.has(request.method)) return;
      const path = request.url.split('?')[0] ?? '';
      if (path.startsWith('/admin/queues/api/') && isSameOrigin(request)) return;
      if (tokensMatch(presentedCsrf(request), request.csrfToken)) return;
      const message =
        'This form has expired or did not come from Herald: reload the page and try again.';
      const auth = request.server.consoleAuth;
      if (auth.renderForbidden) await auth.renderForbidden(request, reply, message);
      else await reply.status(403).type('text/plain; charset=utf-8').send(message);
      return reply;
    });
  },
  { name: 'herald-console-auth' },
);
