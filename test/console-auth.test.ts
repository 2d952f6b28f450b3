// Console sign-in on real Redis: login success and failure (one message for unknown email and
// wrong password), a disabled user, 429 after the limit per account and per client address,
// cookie attributes (Secure only with an https PUBLIC_URL), session expiry and sign-out, role
// 403s, the `next` parameter (only our own /console paths), the login form's CSRF, and every
// console POST refused without the session's CSRF token with nothing changed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { CONSOLE_SESSION_SECONDS } from '../src/http/auth.ts';
import { safeNext } from '../src/http/console/guard.ts';
import {
  LOGIN_FAILURES_PER_ACCOUNT,
  LOGIN_FAILURES_PER_CLIENT,
} from '../src/http/console/login.ts';
import { buildServer } from '../src/http/server.ts';
import { usersDb } from '../src/store/schema-users.ts';
import { disableUser } from '../src/users/repository.ts';
import {
  createConsoleUser,
  csrfOfPage,
  loginForm,
  postLogin,
  setCookies,
  signIn,
} from './helpers/console.ts';
import { openTestStore, uniqueName } from './helpers/stores.ts';

async function openServer(publicUrl?: string) {
  const t = await openTestStore('sqlite');
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-console-auth-'));
  const app = await createApp(
    parseConfig({
      DATABASE_URL: t.databaseUrl,
      HERALD_DATA_DIR: dataDir,
      QUEUE_PREFIX: uniqueName('consoleauth'),
      LOG_LEVEL: 'silent',
      // A high public limit: these tests count the sign-in limiter, not the page limiter.
      PUBLIC_RATE_LIMIT: '10000',
      ...(publicUrl ? { PUBLIC_URL: publicUrl } : {}),
    }),
  );
  const server = await buildServer(app);
  await server.ready();
  return {
    t,
    app,
    server,
    async close() {
      await server.close();
      await app.close();
      await t.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe('console sign-in (sqlite, real Redis)', () => {
  let app: App;
  let server: FastifyInstance;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ app, server, close } = await openServer());
  });
  afterAll(async () => close?.());

  it('signs in with the right password: 303 to next, HttpOnly SameSite=Lax cookie, no Secure on http', async () => {
    const user = await createConsoleUser(app, 'editor');
    const response = await postLogin(
      server,
      { ...user, email: user.email.toUpperCase() },
      {
        next: '/console/campaigns?status=draft',
      },
    );
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console/campaigns?status=draft');
    const line = ([] as string[])
      .concat(response.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('herald_session='))!;
    expect(line).toMatch(/; Path=\/;/);
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Lax/);
    expect(line).toMatch(new RegExp(`; Max-Age=${CONSOLE_SESSION_SECONDS}`));
    expect(line).not.toMatch(/Secure/);
    const row = await usersDb(app.store.db)
      .selectFrom('users')
      .select('last_sign_in_at')
      .where('email', '=', user.email)
      .executeTakeFirstOrThrow();
    expect(row.last_sign_in_at).not.toBeNull();
  });

  it('answers unknown email and wrong password alike, and refuses a disabled user', async () => {
    const user = await createConsoleUser(app, 'ops');
    const wrong = await postLogin(server, { email: user.email, password: 'wrong password here' });
    const unknown = await postLogin(server, {
      email: 'nobody@example.org',
      password: user.password,
    });
    for (const response of [wrong, unknown]) {
      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('That email and password do not match an active account.');
      expect(setCookies(response.headers['set-cookie']).has('herald_session')).toBe(false);
    }
    // The page is the same apart from the echoed email and the form token.
    const strip = (html: string) => html.replace(/value="[^"]*"/g, 'value=""');
    expect(strip(wrong.body)).toBe(strip(unknown.body));

    await disableUser(app.store.db, user.email);
    const disabled = await postLogin(server, user);
    expect(disabled.statusCode).toBe(401);
    expect(disabled.body).toContain('That email and password do not match an active account.');
    const empty = await postLogin(server, { email: '', password: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.body).toContain('Enter your email and your password.');
  });

  it('refuses a login post without its CSRF token (403, no session)', async () => {
    const user = await createConsoleUser(app, 'editor');
    const form = await loginForm(server);
    const cases = [
      { cookie: form.cookie, token: undefined },
      { cookie: form.cookie, token: 'x'.repeat(43) },
      { cookie: undefined, token: form.token },
    ];
    for (const c of cases) {
      const response = await server.inject({
        method: 'POST',
        url: '/console/login',
        headers: c.cookie ? { cookie: c.cookie } : {},
        payload: {
          email: user.email,
          password: user.password,
          ...(c.token ? { _csrf: c.token } : {}),
        },
      });
      expect(response.statusCode).toBe(403);
      expect(setCookies(response.headers['set-cookie']).has('herald_session')).toBe(false);
    }
  });

  it(`answers 429 after ${LOGIN_FAILURES_PER_ACCOUNT} failures for one account, even with the right password`, async () => {
    const user = await createConsoleUser(app, 'editor');
    // Spread over addresses: only the account limit can be what stops it.
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) {
      const form = await loginForm(server);
      const response = await server.inject({
        method: 'POST',
        url: '/console/login',
        remoteAddress: `10.20.0.${i + 1}`,
        headers: { cookie: form.cookie },
        payload: { email: user.email, password: `wrong password ${i}`, _csrf: form.token },
      });
      expect(response.statusCode).toBe(401);
    }
    const blocked = await postLogin(server, user);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.body).toContain('Too many failed sign-ins. Try again in');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(setCookies(blocked.headers['set-cookie']).has('herald_session')).toBe(false);
    // Another account is not affected.
    expect((await postLogin(server, await createConsoleUser(app, 'editor'))).statusCode).toBe(303);
  });

  it(`answers 429 after ${LOGIN_FAILURES_PER_CLIENT} failures from one address, whatever the account`, async () => {
    const address = '10.30.0.7';
    const attempt = async (email: string, password: string) => {
      const form = await loginForm(server);
      return server.inject({
        method: 'POST',
        url: '/console/login',
        remoteAddress: address,
        headers: { cookie: form.cookie },
        payload: { email, password, _csrf: form.token },
      });
    };
    for (let i = 0; i < LOGIN_FAILURES_PER_CLIENT; i++) {
      expect((await attempt(`guess${i}@example.org`, 'some password here')).statusCode).toBe(401);
    }
    const user = await createConsoleUser(app, 'ops');
    const blocked = await attempt(user.email, user.password);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.body).toContain('Too many failed sign-ins');
    // Another address signs the same user in.
    expect((await postLogin(server, user)).statusCode).toBe(303);
  });

  it('sends `next` only to our own /console paths', async () => {
    const user = await createConsoleUser(app, 'editor');
    for (const next of [
      'https://evil.example/console',
      '//evil.example/console',
      '/\\evil.example',
      '/console//evil.example',
      '/console/%2F%2Fevil.example',
      '/consolex',
      '/admin/queues',
      'javascript:alert(1)',
      '/console\r\nLocation: https://evil.example',
    ]) {
      expect(safeNext(next), next).toBe('/console');
      const response = await postLogin(server, user, { next });
      expect(response.statusCode, next).toBe(303);
      expect(response.headers.location, next).toBe('/console');
    }
    expect(safeNext('/console/campaigns/12?tab=report')).toBe('/console/campaigns/12?tab=report');
    // A signed-out GET is sent to the login page with where it was going.
    const redirect = await server.inject({ url: '/console/users?cursor=abc' });
    expect(redirect.statusCode).toBe(303);
    expect(redirect.headers.location).toBe(
      `/console/login?next=${encodeURIComponent('/console/users?cursor=abc')}`,
    );
  });

  it('`/` goes to the console when signed in, to the sign-in page otherwise', async () => {
    const out = await server.inject({ url: '/' });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/console/login');
    const { cookie } = await signIn(server, 'ops');
    const signedIn = await server.inject({ url: '/', headers: { cookie } });
    expect(signedIn.headers.location).toBe('/console');
  });

  it('ends a session by sign-out (with its CSRF token) and when it expires in Redis', async () => {
    const session = await signIn(server, 'editor');
    const keys = await app.redis().keys(`${app.config.QUEUE_PREFIX}:session:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const ttl = await app.redis().ttl(key);
      expect(ttl).toBeGreaterThan(CONSOLE_SESSION_SECONDS - 120);
      expect(ttl).toBeLessThanOrEqual(CONSOLE_SESSION_SECONDS);
    }
    // Without the token, sign-out is refused and the session lives on.
    const forged = await server.inject({
      method: 'POST',
      url: '/console/logout',
      headers: { cookie: session.cookie },
    });
    expect(forged.statusCode).toBe(403);
    expect(
      (await server.inject({ url: '/console', headers: { cookie: session.cookie } })).statusCode,
    ).toBe(200);
    const out = await server.inject({
      method: 'POST',
      url: '/console/logout',
      headers: { cookie: session.cookie },
      payload: { _csrf: session.csrf },
    });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/console/login');
    expect(String(out.headers['set-cookie'])).toMatch(/herald_session=; .*Max-Age=0/);
    expect(
      (await server.inject({ url: '/console', headers: { cookie: session.cookie } })).statusCode,
    ).toBe(303);

    // Expiry: Redis drops the key when its time is up; the cookie then opens nothing.
    const other = await signIn(server, 'editor');
    const before = new Set(keys);
    const fresh = (await app.redis().keys(`${app.config.QUEUE_PREFIX}:session:*`)).filter(
      (k) => !before.has(k),
    );
    expect(fresh).toHaveLength(1);
    await app.redis().pexpire(fresh[0]!, 1);
    while ((await app.redis().exists(fresh[0]!)) === 1) await new Promise((r) => setTimeout(r, 5));
    const expired = await server.inject({ url: '/console', headers: { cookie: other.cookie } });
    expect(expired.statusCode).toBe(303);
    expect(expired.headers.location).toBe('/console/login');
  });

  it('answers a role outside the page with 403 "not available to your role"', async () => {
    const editor = await signIn(server, 'editor');
    const page = await server.inject({ url: '/console/users', headers: { cookie: editor.cookie } });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('This page is not available to your role.');
    expect(page.body).not.toContain('href="/console/users"');
    const admin = await signIn(server, 'admin');
    expect(
      (await server.inject({ url: '/console/users', headers: { cookie: admin.cookie } }))
        .statusCode,
    ).toBe(200);
    const ops = await signIn(server, 'ops');
    // The old outbox address sends ops to the console's outbox, which answers them.
    const old = await server.inject({ url: '/admin/outbox', headers: { cookie: ops.cookie } });
    expect(old.statusCode).toBe(301);
    expect(old.headers.location).toBe('/console/outbox');
    expect(
      (await server.inject({ url: '/console/outbox', headers: { cookie: ops.cookie } })).statusCode,
    ).toBe(200);
    expect(
      (await server.inject({ url: '/admin/queues', headers: { cookie: editor.cookie } }))
        .statusCode,
    ).toBe(403);
  });

  it('refuses every console POST without the session CSRF token, and nothing changes', async () => {
    const admin = await signIn(server, 'admin');
    const routes = server.routeCatalogue.flatMap((route) =>
      route.method
        .filter((m) => !['GET', 'HEAD', 'OPTIONS'].includes(m))
        .map((method) => ({ method, url: route.url })),
    );
    const consolePosts = routes.filter(
      (r) =>
        (r.url === '/console' || r.url.startsWith('/console/')) &&
        r.url !== '/console/login' &&
        r.url !== '/console/set-password',
    );
    expect(consolePosts.map((r) => r.url)).toContain('/console/logout');
    expect(consolePosts.map((r) => r.url)).toContain('/console/users');
    const count = async () =>
      (await usersDb(app.store.db).selectFrom('users').select('id').execute()).length;
    const before = await count();
    for (const route of consolePosts) {
      const url = route.url.replace(/:[A-Za-z_]+/g, '1');
      for (const token of [undefined, 'wrong-token', `${admin.csrf.slice(0, -1)}x`]) {
        const response = await server.inject({
          method: route.method as 'POST',
          url,
          headers: { cookie: admin.cookie, ...(token ? { 'x-csrf-token': token } : {}) },
          payload: { email: 'csrf-made@example.org', role: 'admin', _csrf: token ?? '' },
        });
        expect(response.statusCode, `${route.method} ${url} ${token}`).toBe(403);
      }
    }
    expect(await count()).toBe(before);
    // The session was not ended by the refused sign-out.
    expect(
      (await server.inject({ url: '/console', headers: { cookie: admin.cookie } })).statusCode,
    ).toBe(200);
    // With the token (header, as htmx sends it) the same post goes through.
    const made = await server.inject({
      method: 'POST',
      url: '/console/users',
      headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf },
      payload: { email: 'csrf-made@example.org', role: 'ops' },
    });
    expect(made.statusCode).toBe(201);
    expect(await count()).toBe(before + 1);
  });

  it('sets a password from the one-time link, then signs in with it', async () => {
    const made = await server.inject({
      method: 'POST',
      url: '/console/users',
      headers: { cookie: (await signIn(server, 'admin')).cookie, 'x-csrf-token': '' },
      payload: {},
    });
    expect(made.statusCode).toBe(403);
    const admin = await signIn(server, 'admin');
    const created = await server.inject({
      method: 'POST',
      url: '/console/users',
      headers: { cookie: admin.cookie },
      payload: { _csrf: admin.csrf, email: 'invited@example.org', role: 'editor' },
    });
    const token = /set-password\?token=([A-Za-z0-9_-]{43})/.exec(created.body)![1]!;
    const page = await server.inject({ url: `/console/set-password?token=${token}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('invited@example.org');
    const cookie = `herald_login_csrf=${setCookies(page.headers['set-cookie']).get('herald_login_csrf')}`;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const post = (payload: Record<string, string>) =>
      server.inject({ method: 'POST', url: '/console/set-password', headers: { cookie }, payload });
    const mismatch = await post({
      _csrf: csrf,
      token,
      password: 'one long password',
      confirm: 'other long password',
    });
    expect(mismatch.statusCode).toBe(400);
    const short = await post({ _csrf: csrf, token, password: 'short', confirm: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain('at least 12 characters');
    const noCsrf = await post({
      token,
      password: 'one long password',
      confirm: 'one long password',
    });
    expect(noCsrf.statusCode).toBe(403);
    const done = await post({
      _csrf: csrf,
      token,
      password: 'one long password',
      confirm: 'one long password',
    });
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe('/console/login?done=password');
    const reused = await post({
      _csrf: csrf,
      token,
      password: 'another password!',
      confirm: 'another password!',
    });
    expect(reused.statusCode).toBe(400);
    expect(reused.body).toContain('used, expired or unknown');
    expect(
      (await postLogin(server, { email: 'invited@example.org', password: 'one long password' }))
        .statusCode,
    ).toBe(303);
    const csrfMeta = csrfOfPage(
      (
        await server.inject({
          url: '/console',
          headers: { cookie: (await signIn(server, 'ops')).cookie },
        })
      ).body,
    );
    expect(csrfMeta).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('console cookies on an https PUBLIC_URL', () => {
  it('marks the session and login cookies Secure', async () => {
    const s = await openServer('https://news.example.org');
    try {
      const form = await s.server.inject({ url: '/console/login' });
      expect(String(form.headers['set-cookie'])).toMatch(/herald_login_csrf=.*; Secure/);
      const user = await createConsoleUser(s.app, 'editor');
      const response = await postLogin(s.server, user);
      expect(response.statusCode).toBe(303);
      const line = ([] as string[])
        .concat(response.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('herald_session='))!;
      expect(line).toMatch(/; Secure/);
      expect(line).toMatch(/; HttpOnly/);
      expect(line).toMatch(/; SameSite=Lax/);
    } finally {
      await s.close();
    }
  });
});
