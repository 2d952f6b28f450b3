// Console sign-in for tests: create a user with a role, sign in through the real login form
// (Fastify inject or a playwright page), get the session cookie and its CSRF token back.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import type { App } from '../../src/app.ts';
import type { UserRole } from '../../src/store/schema-users.ts';
import { createUser } from '../../src/users/repository.ts';

export interface ConsoleCredentials {
  email: string;
  password: string;
}

export interface SignedIn extends ConsoleCredentials {
  /** The Cookie header value to send: `herald_session=…`. */
  cookie: string;
  /** The session's CSRF token: form field `_csrf` or header `x-csrf-token`. */
  csrf: string;
}

/** Creates a user with a fresh address and password for the role. */
export async function createConsoleUser(app: App, role: UserRole): Promise<ConsoleCredentials> {
  const email = `${role}-${randomBytes(6).toString('hex')}@console.test`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  await createUser(app.store.db, { email, role, password });
  return { email, password };
}

/** The name=value pairs of a response's Set-Cookie headers. */
export function setCookies(header: string | string[] | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const line of Array.isArray(header) ? header : header ? [header] : []) {
    const pair = line.split(';')[0] ?? '';
    const index = pair.indexOf('=');
    if (index > 0) cookies.set(pair.slice(0, index), pair.slice(index + 1));
  }
  return cookies;
}

/** A GET of the login page: the login CSRF cookie (`herald_login_csrf=…`) and its token. */
export async function loginForm(
  server: FastifyInstance,
): Promise<{ cookie: string; token: string }> {
  const page = await server.inject({ url: '/console/login' });
  const token = setCookies(page.headers['set-cookie']).get('herald_login_csrf');
  if (!token) throw new Error(`no login CSRF cookie (status ${page.statusCode})`);
  return { cookie: `herald_login_csrf=${token}`, token };
}

/** Posts the login form; returns the raw response. */
export async function postLogin(
  server: FastifyInstance,
  credentials: ConsoleCredentials,
  extra: { next?: string; headers?: Record<string, string> } = {},
) {
  const form = await loginForm(server);
  return server.inject({
    method: 'POST',
    url: '/console/login',
    headers: { cookie: form.cookie, ...(extra.headers ?? {}) },
    payload: {
      email: credentials.email,
      password: credentials.password,
      _csrf: form.token,
      ...(extra.next === undefined ? {} : { next: extra.next }),
    },
  });
}

/** The CSRF token a console page carries (<meta name="csrf-token">). */
export function csrfOfPage(html: string): string {
  const match = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
  if (!match?.[1]) throw new Error('no csrf-token meta on the page');
  return match[1];
}

/** Signs a user in (created unless given); returns the session cookie and the CSRF token. */
export async function signIn(
  server: FastifyInstance,
  role: UserRole,
  credentials?: ConsoleCredentials,
): Promise<SignedIn> {
  const user = credentials ?? (await createConsoleUser(server.consoleAuth.app, role));
  const response = await postLogin(server, user);
  const session = setCookies(response.headers['set-cookie']).get('herald_session');
  if (response.statusCode !== 303 || !session)
    throw new Error(`sign-in failed: ${response.statusCode} ${response.body.slice(0, 200)}`);
  const cookie = `herald_session=${session}`;
  const page = await server.inject({ url: '/console', headers: { cookie } });
  return { ...user, cookie, csrf: csrfOfPage(page.body) };
}

/**
 * Signs a new user of the role in through the login page in a playwright page; `from` is the
 * server or app the user is created in (or existing credentials). Lands on /console.
 */
export async function browserSignIn(
  page: Page,
  baseUrl: string,
  role: UserRole,
  from: FastifyInstance | App | ConsoleCredentials,
): Promise<ConsoleCredentials> {
  const user =
    'password' in from
      ? from
      : await createConsoleUser('consoleAuth' in from ? from.consoleAuth.app : from, role);
  await page.goto(`${baseUrl}/console/login`);
  await page.fill('input[name=email]', user.email);
  await page.fill('input[name=password]', user.password);
  await Promise.all([page.waitForURL(`${baseUrl}/console`), page.click('button[type=submit]')]);
  return user;
}
