// Signing in and out: /console/login (GET form, POST), /console/logout (POST, session CSRF),
// /console/set-password (GET form, POST with the one-time token). The login and set-password
// forms have no session yet: their CSRF token is a double-submit cookie (random, HttpOnly,
// SameSite=Strict) that the form echoes in `_csrf`. Failed sign-ins are limited per account
// and per client address in Redis (rate-limiter-flexible); unknown email and wrong password
// answer alike.
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { InputError } from '../../errors/index.ts';
import {
  decoyPasswordHash,
  PASSWORD_MAX,
  PASSWORD_MIN,
  verifyPassword,
} from '../../users/passwords.ts';
import {
  findUserForSignIn,
  recordSignIn,
  setPasswordWithToken,
  userOfSetPasswordToken,
} from '../../users/repository.ts';
import { CONSOLE_COOKIE, CONSOLE_SESSION_SECONDS, cookieOf } from '../auth.ts';
import { requireConsole, safeNext, tokensMatch } from './guard.ts';
import { renderStandalonePage } from './render.ts';

/** The login form's double-submit CSRF cookie. */
export const LOGIN_CSRF_COOKIE = 'herald_login_csrf';
/** Failed sign-ins allowed per account, and per client address, within the window. */
export const LOGIN_FAILURES_PER_ACCOUNT = 10;
export const LOGIN_FAILURES_PER_CLIENT = 30;
export const LOGIN_WINDOW_SECONDS = 15 * 60;

const SIGN_IN_FAILED = 'That email and password do not match an active account.';

const loginBody = z.object({
  email: z.string().max(320).default(''),
  password: z
    .string()
    .max(PASSWORD_MAX * 4)
    .default(''),
  _csrf: z.string().max(200).optional(),
  next: z.string().max(500).optional(),
});

const setPasswordBody = z.object({
  token: z.string().max(200).default(''),
  password: z
    .string()
    .max(PASSWORD_MAX * 4)
    .default(''),
  confirm: z
    .string()
    .max(PASSWORD_MAX * 4)
    .default(''),
  _csrf: z.string().max(200).optional(),
});

function cookie(
  name: string,
  value: string,
  path: string,
  maxAge: number,
  secure: boolean,
  sameSite: 'Lax' | 'Strict',
) {
  return `${name}=${value}; Path=${path}; HttpOnly; SameSite=${sameSite}; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

function minutes(ms: number): string {
  const m = Math.max(1, Math.ceil(ms / 60_000));
  return m === 1 ? '1 minute' : `${m} minutes`;
}

export const loginRoutes: FastifyPluginAsync<{ app: App }> = async (fastify, { app }) => {
  const auth = fastify.consoleAuth;
  const secure = auth.secureCookies;
  const limiterOptions = { storeClient: app.redis(), duration: LOGIN_WINDOW_SECONDS };
  const perAccount = new RateLimiterRedis({
    ...limiterOptions,
    keyPrefix: `${app.config.QUEUE_PREFIX}:login-fail:account`,
    points: LOGIN_FAILURES_PER_ACCOUNT,
  });
  const perClient = new RateLimiterRedis({
    ...limiterOptions,
    keyPrefix: `${app.config.QUEUE_PREFIX}:login-fail:client`,
    points: LOGIN_FAILURES_PER_CLIENT,
  });

  /** The login CSRF token: the cookie's when it looks like one of ours, else a new one (set). */
  function loginCsrf(request: FastifyRequest, reply: FastifyReply): string {
    const current = cookieOf(request, LOGIN_CSRF_COOKIE);
    if (current && /^[A-Za-z0-9_-]{43}$/.test(current)) return current;
    const token = randomBytes(32).toString('base64url');
    reply.header(
      'set-cookie',
      cookie(LOGIN_CSRF_COOKIE, token, '/console', 2 * 3600, secure, 'Strict'),
    );
    return token;
  }

  function loginCsrfValid(request: FastifyRequest, presented: string | undefined): boolean {
    const expected = cookieOf(request, LOGIN_CSRF_COOKIE);
    return expected !== null && tokensMatch(presented, expected);
  }

  function loginForm(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { next: string; email?: string; error?: string; notice?: string },
  ) {
    return renderStandalonePage(reply, 'login', {
      title: 'Sign in',
      csrfToken: loginCsrf(request, reply),
      next: options.next,
      email: options.email ?? '',
      error: options.error ?? null,
      notice: options.notice ?? null,
    });
  }

  fastify.get('/console/login', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const next = safeNext(query.next);
    const sessionId = cookieOf(request, CONSOLE_COOKIE);
    if (sessionId && (await auth.sessions.read(sessionId))) return reply.redirect(next, 303);
    const notice = query.done === 'password' ? 'Your password is set: sign in with it.' : undefined;
    return loginForm(request, reply, { next, ...(notice ? { notice } : {}) });
  });

  fastify.post('/console/login', async (request, reply) => {
    const parsed = loginBody.safeParse(request.body ?? {});
    const body = parsed.success
      ? parsed.data
      : { email: '', password: '', next: undefined, _csrf: undefined };
    const next = safeNext(body.next);
    const email = body.email.trim().slice(0, 254);
    if (!loginCsrfValid(request, body._csrf)) {
      reply.status(403);
      return loginForm(request, reply, {
        next,
        email,
        error: 'This sign-in form has expired: it has been reloaded, please sign in again.',
      });
    }
    if (email === '' || body.password === '') {
      reply.status(400);
      return loginForm(request, reply, {
        next,
        email,
        error: 'Enter your email and your password.',
      });
    }
    const accountKey = email.toLowerCase();
    const clientKey = request.ip;
    const [account, client] = await Promise.all([
      perAccount.get(accountKey),
      perClient.get(clientKey),
    ]);
    const blocked = [
      account && account.consumedPoints >= LOGIN_FAILURES_PER_ACCOUNT ? account : null,
      client && client.consumedPoints >= LOGIN_FAILURES_PER_CLIENT ? client : null,
    ].filter((r) => r !== null);
    if (blocked.length > 0) {
      const wait = Math.max(...blocked.map((r) => r.msBeforeNext));
      reply.status(429).header('retry-after', String(Math.ceil(wait / 1000)));
      return loginForm(request, reply, {
        next,
        email,
        error: `Too many failed sign-ins. Try again in ${minutes(wait)}.`,
      });
    }
    const user = await findUserForSignIn(app.store.db, email);
    // Unknown users are checked against a decoy hash: both answers take as long.
    const matches = await verifyPassword(
      body.password,
      user?.passwordHash ?? (await decoyPasswordHash()),
    );
    if (!user?.passwordHash || user.disabledAt || !matches) {
      // penalty() adds a point without refusing (the check above refuses).
      await Promise.all([perAccount.penalty(accountKey), perClient.penalty(clientKey)]);
      reply.status(401);
      return loginForm(request, reply, { next, email, error: SIGN_IN_FAILED });
    }
    await perAccount.delete(accountKey);
    const old = cookieOf(request, CONSOLE_COOKIE);
    if (old) await auth.sessions.close(old);
    const { sessionId } = await auth.sessions.open(user.id);
    await recordSignIn(app.store.db, user.id);
    return reply
      .header('set-cookie', [
        cookie(CONSOLE_COOKIE, sessionId, '/', CONSOLE_SESSION_SECONDS, secure, 'Lax'),
        cookie(LOGIN_CSRF_COOKIE, '', '/console', 0, secure, 'Strict'),
      ])
      .redirect(next, 303);
  });

  // Sign-out is a change: it takes the session's CSRF token (checked by the console preHandler).
  fastify.post('/console/logout', { onRequest: requireConsole() }, async (request, reply) => {
    const sessionId = cookieOf(request, CONSOLE_COOKIE);
    if (sessionId) await auth.sessions.close(sessionId);
    return reply
      .header('set-cookie', cookie(CONSOLE_COOKIE, '', '/', 0, secure, 'Lax'))
      .redirect('/console/login', 303);
  });

  function setPasswordForm(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { token: string; email: string | null; error?: string },
  ) {
    return renderStandalonePage(reply, 'set-password', {
      title: 'Choose your password',
      csrfToken: loginCsrf(request, reply),
      token: options.token,
      email: options.email,
      error: options.error ?? null,
      min: PASSWORD_MIN,
      max: PASSWORD_MAX,
    });
  }

  fastify.get('/console/set-password', async (request, reply) => {
    const token = String((request.query as Record<string, unknown>).token ?? '').slice(0, 200);
    const user = await userOfSetPasswordToken(app.store.db, token);
    if (!user) {
      reply.status(400);
      return setPasswordForm(request, reply, {
        token: '',
        email: null,
        error: 'This link is used, expired or unknown: ask an admin for a new one.',
      });
    }
    return setPasswordForm(request, reply, { token, email: user.email });
  });

  fastify.post('/console/set-password', async (request, reply) => {
    const parsed = setPasswordBody.safeParse(request.body ?? {});
    const body = parsed.success
      ? parsed.data
      : { token: '', password: '', confirm: '', _csrf: undefined };
    const user = await userOfSetPasswordToken(app.store.db, body.token);
    const again = (status: number, error: string) => {
      reply.status(status);
      return setPasswordForm(request, reply, {
        token: user ? body.token : '',
        email: user?.email ?? null,
        error,
      });
    };
    if (!loginCsrfValid(request, body._csrf))
      return again(
        403,
        'This form has expired: it has been reloaded, please enter your password again.',
      );
    if (!user)
      return again(400, 'This link is used, expired or unknown: ask an admin for a new one.');
    if (body.password !== body.confirm)
      return again(400, 'The two passwords differ: type the same one twice.');
    try {
      await setPasswordWithToken(app.store.db, body.token, body.password);
    } catch (error) {
      if (error instanceof InputError) return again(400, error.message);
      throw error;
    }
    return reply.redirect('/console/login?done=password', 303);
  });
};
