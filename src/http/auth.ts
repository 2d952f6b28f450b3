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
 * The cookie the console keeps its session id in: HttpOnly (no script reads it), SameSite=Lax
 * (sent on top-level navigations from a mail link, never on another site's form posts or
 * fetches), Path=/, Secure when PUBLIC_URL is https. The id is random; Redis keeps its sha256.
 */
export const CONSOLE_COOKIE = 'herald_session';

/**
 * How long a console session lasts: a fixed 12 hours from sign-in (a working day), not
 * sliding, so a stolen cookie stops working on its own; the cookie's Max-Age is the same.
 */
export const CONSOLE_SESSION_SECONDS = 12 * 3600;

/** What a live session stands for: the signed-in user and the session's CSRF secret. */
export interface ConsoleSession {
  userId: number;
  /** Random per session; forms and htmx requests must echo it (field _csrf, x-csrf-token). */
  csrfSecret: string;
}

/**
 * Console sessions in Redis (shared by every api process): `prefix:session:<sha256(id)>` holds
 * the user id and CSRF secret as JSON and expires on its own; sign-out deletes it. The raw
 * session id is never stored. A disabled user's session is refused by the guard, which reads
 * the user on every request.
 */
export interface ConsoleSessions {
  /** Opens a session for a user already checked; returns the session id for the cookie. */
  open(userId: number): Promise<{ sessionId: string; session: ConsoleSession }>;
  /** The live session an id stands for, or null. */
  read(sessionId: string): Promise<ConsoleSession | null>;
  /** Ends a session (sign-out); unknown ids are ignored. */
  close(sessionId: string): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export function consoleSessions(
  redis: () => Redis,
  prefix: string,
  seconds = CONSOLE_SESSION_SECONDS,
): ConsoleSessions {
  const slot = (sessionId: string) =>
    `${prefix}:session:${createHash('sha256').update(sessionId).digest('hex')}`;
  return {
    async open(userId) {
      const sessionId = randomBytes(32).toString('base64url');
      const session: ConsoleSession = { userId, csrfSecret: randomBytes(32).toString('base64url') };
      await redis().set(slot(sessionId), JSON.stringify(session), 'EX', seconds);
      return { sessionId, session };
    },
    async read(sessionId) {
      if (!SESSION_ID.test(sessionId)) return null;
      const raw = await redis().get(slot(sessionId));
      if (!raw) return null;
      try {
        const value = JSON.parse(raw) as Partial<ConsoleSession>;
        if (typeof value.userId !== 'number' || typeof value.csrfSecret !== 'string') return null;
        return { userId: value.userId, csrfSecret: value.csrfSecret };
      } catch {
        return null;
      }
    },
    async close(sessionId) {
      if (SESSION_ID.test(sessionId)) await redis().del(slot(sessionId));
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
