// API keys on HTTP: the role checks on routes and the console's cookie sessions. The key store
// itself is src/keys.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { hashKey, roleOfKeyHash } from '../keys/index.ts';
import type { ApiRole, Database } from '../store/schema.ts';
import { HttpError } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiRole?: ApiRole;
  }
}

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** Checks a presented key against the roles; returns its role or throws 401/403. */
async function authorise(
  db: Kysely<Database>,
  key: string | null,
  roles: ApiRole[],
): Promise<ApiRole> {
  if (!key) throw new HttpError(401, 'an API key is required (Authorization: Bearer KEY)');
  return authoriseHash(db, hashKey(key), roles);
}

async function authoriseHash(
  db: Kysely<Database>,
  hash: string,
  roles: ApiRole[],
): Promise<ApiRole> {
  const role = await roleOfKeyHash(db, hash);
  if (!role) throw new HttpError(401, 'unknown or revoked API key');
  if (role !== 'admin' && !roles.includes(role)) {
    throw new HttpError(
      403,
      `this route needs the ${roles.join(' or ')} role; the key has ${role}`,
    );
  }
  return role;
}

/** A preHandler that answers 401 without a live key and 403 for a role not in `roles`. */
export function requireRole(db: Kysely<Database>, ...roles: ApiRole[]): preHandlerAsyncHookHandler {
  return async (request) => {
    request.apiRole = await authorise(db, bearerOf(request), roles);
  };
}

/**
 * The cookie the browser console (/admin pages) keeps its session id in after /admin/login:
 * HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Path=/admin.
 * The id is random and maps, server-side, to the hash of the key that signed in.
 */
export const CONSOLE_COOKIE = 'herald_console_session';

/** How long a console session lasts (the cookie's Max-Age too). */
export const CONSOLE_SESSION_SECONDS = 12 * 3600;

/**
 * Console sessions in Redis (shared by every api process): `prefix:session:<sha256(id)>` holds
 * the signed-in key's hash and expires on its own; sign-out deletes it. Neither the raw key nor
 * the raw session id is stored.
 */
export interface ConsoleSessions {
  /** Opens a session for a key already checked; returns the session id for the cookie. */
  open(key: string): Promise<string>;
  /** The key hash a live session id stands for, or null. */
  keyHashOf(sessionId: string): Promise<string | null>;
  /** Ends a session (sign-out); unknown ids are ignored. */
  close(sessionId: string): Promise<void>;
}

export function consoleSessions(redis: () => Redis, prefix: string): ConsoleSessions {
  const slot = (sessionId: string) =>
    `${prefix}:session:${createHash('sha256').update(sessionId).digest('hex')}`;
  return {
    async open(key) {
      const sessionId = randomBytes(32).toString('base64url');
      await redis().set(slot(sessionId), hashKey(key), 'EX', CONSOLE_SESSION_SECONDS);
      return sessionId;
    },
    async keyHashOf(sessionId) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return null;
      return redis().get(slot(sessionId));
    },
    async close(sessionId) {
      if (/^[A-Za-z0-9_-]{43}$/.test(sessionId)) await redis().del(slot(sessionId));
    },
  };
}

/** The value of one cookie of the request, or null. */
export function cookieOf(request: FastifyRequest, name: string): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim()) || null;
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * Whether a browser request comes from our own pages: Fetch Metadata when the browser sends
 * it, else Origin against Host. No Origin at all is a non-browser client (no ambient
 * credentials to abuse); an opaque Origin ("null") is refused.
 */
export function isSameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none';
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin === '') return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Like requireRole, for browser pages: the key comes from the Authorization header, or the
 * console cookie's session; a cookie-authenticated change (non-GET) must also come from our
 * own origin.
 */
export function requireConsoleRole(
  db: Kysely<Database>,
  sessions: ConsoleSessions,
  ...roles: ApiRole[]
): preHandlerAsyncHookHandler {
  return async (request) => {
    const bearer = bearerOf(request);
    if (bearer) {
      request.apiRole = await authorise(db, bearer, roles);
      return;
    }
    const sessionId = cookieOf(request, CONSOLE_COOKIE);
    const keyHash = sessionId ? await sessions.keyHashOf(sessionId) : null;
    if (!keyHash) throw new HttpError(401, 'an API key is required (Authorization: Bearer KEY)');
    request.apiRole = await authoriseHash(db, keyHash, roles);
    if (!SAFE_METHODS.has(request.method) && !isSameOrigin(request)) {
      throw new HttpError(403, 'cross-origin request refused');
    }
  };
}
