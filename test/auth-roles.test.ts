// Each role (none, editor, ops, admin) against each route family: 401 / 403 / allowed.
// /api routes (API keys) and the browser pages under /admin and /console (signed-in users, with
// their CSRF token) come from the server's route inventory (an onRoute hook in the hardening
// plugin), so routes other families add are covered without touching this file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { NAV } from '../src/http/console/nav.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey, revokeApiKey } from '../src/keys/index.ts';
import type { ApiRole } from '../src/store/schema.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

type Caller = 'none' | ApiRole;
const CALLERS: Caller[] = ['none', 'editor', 'ops', 'admin'];

/** Which roles a route needs, by family; null: not a family this table knows. */
function familyOf(method: string, url: string): { name: string; roles: ApiRole[] } | null {
  if (/^\/api\/(articles|campaigns|subscribers|topics)(\/|$)/.test(url))
    return { name: url.split('/')[2]!, roles: ['editor'] };
  // The API's own description: any key.
  if (url === '/api/openapi.json') return { name: 'openapi', roles: ['editor', 'ops'] };
  if (/^\/api\/queues(\/|$)/.test(url) || /^\/admin\/queues(\/|$)/.test(url))
    return { name: 'queues', roles: ['ops'] };
  if (/^\/admin\/outbox(\/|$)/.test(url)) return { name: 'outbox', roles: ['ops', 'editor'] };
  if (/^\/api\/(keys|users)(\/|$)/.test(url)) return { name: url.split('/')[2]!, roles: [] };
  // Console pages: the nav entry whose path is the longest prefix of the route decides.
  if (url === '/console' || url.startsWith('/console/')) {
    const item = [...NAV]
      .filter((n) => url === n.href || url.startsWith(`${n.href}/`))
      .sort((a, b) => b.href.length - a.href.length)[0];
    // A nav entry with no roles is for every signed-in user (the API reference).
    if (item && item.href !== '/console')
      return {
        name: item.key,
        roles: item.roles.length === 0 ? ['editor', 'ops'] : [...item.roles],
      };
    if (url === '/console') return { name: 'dashboard', roles: ['editor', 'ops'] };
  }
  // Removing a suppression: DELETE /api/suppressions/… or POST /api/suppressions/remove.
  if (
    (/^\/api\/suppressions(\/|$)/.test(url) && method === 'DELETE') ||
    url === '/api/suppressions/remove'
  )
    return { name: 'suppression removal', roles: [] };
  return null;
}

/** A concrete URL for a route pattern: parameters filled with values that exist. */
function concrete(url: string): string {
  if (url.startsWith('/admin/outbox')) return url.replace(':name', 'x.eml').replace(':view', 'raw');
  // Console actions change what they name (disable user 1 would sign the table's editor out):
  // point them at an id no row has; the role check comes before the lookup.
  if (url.startsWith('/console/')) return url.replace(/:[A-Za-z_]+/g, '999999');
  return url
    .replace(/:queueName|(?<=^\/api\/queues\/):name/g, 'deliveries')
    .replace(/:queueStatus/g, 'failed')
    .replace(/:[A-Za-z_]+/g, '1')
    .replace(/\*$/, 'x');
}

describe.each(DIALECTS)('role table (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  const keys: Partial<Record<Caller, string>> = {};
  const sessions: Partial<Record<Caller, SignedIn>> = {};

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-auth-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('authroles'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    for (const role of ['editor', 'ops', 'admin'] as const) {
      keys[role] = (await createApiKey(app.store.db, role, `table ${role}`)).key;
      sessions[role] = await signIn(server, role);
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Browser pages (signed-in users) rather than the key-authenticated API. */
  const isPage = (url: string) => url.startsWith('/admin/') || url.startsWith('/console');

  function call(caller: Caller, method: string, url: string) {
    const key = keys[caller];
    const session = sessions[caller];
    const headers: Record<string, string> = isPage(url)
      ? session
        ? { cookie: session.cookie, 'x-csrf-token': session.csrf }
        : {}
      : key
        ? { authorization: `Bearer ${key}` }
        : {};
    return server.inject({
      method: method as 'GET',
      url,
      headers,
      ...(method === 'GET' || method === 'HEAD' || method === 'DELETE' ? {} : { payload: {} }),
    });
  }

  it('covers every /api route: 401 without a key, 403 for a wrong role, allowed for the right one', async () => {
    const routes = server.routeCatalogue.flatMap((route) =>
      route.method.filter((m) => m !== 'HEAD').map((method) => ({ method, url: route.url })),
    );
    // The sign-in pages themselves are open (they are what a signed-out browser is sent to);
    // sign-out would end the sessions this table uses (test/console-auth.test.ts covers it).
    const open = new Set(['/console/login', '/console/set-password', '/console/logout']);
    const checked = routes.filter(
      (r) =>
        r.url.startsWith('/api/') ||
        r.url.startsWith('/admin/queues') ||
        r.url.startsWith('/admin/outbox') ||
        ((r.url === '/console' || r.url.startsWith('/console/')) && !open.has(r.url)),
    );
    // Our own families are there at least; the editor families join as they are registered.
    expect(checked.some((r) => r.url === '/api/queues')).toBe(true);
    expect(checked.some((r) => r.url === '/admin/queues')).toBe(true);
    expect(checked.some((r) => r.url === '/console')).toBe(true);

    const table: string[] = [];
    const failures: string[] = [];
    for (const route of checked) {
      const url = concrete(route.url);
      const family = familyOf(route.method, route.url);
      const row: string[] = [];
      for (const caller of CALLERS) {
        const response = await call(caller, route.method, url);
        const status = response.statusCode;
        row.push(`${caller}:${status}`);
        if (status >= 500) failures.push(`${route.method} ${url} as ${caller}: ${status}`);
        if (caller === 'none') {
          // A signed-out browser GET is sent to the sign-in page; anything else is 401.
          const expected = isPage(url) && route.method === 'GET' ? 303 : 401;
          if (status !== expected)
            failures.push(`${route.method} ${url} without key: ${status}, not ${expected}`);
          if (expected === 303 && !String(response.headers.location).startsWith('/console/login'))
            failures.push(`${route.method} ${url} without key: to ${response.headers.location}`);
          continue;
        }
        if (!family) continue; // Unknown family: only "no key, no entry" is asserted.
        const allowed = caller === 'admin' || family.roles.includes(caller);
        if (allowed && (status === 401 || status === 403)) {
          failures.push(`${route.method} ${url} as ${caller}: ${status}, should be allowed`);
        }
        if (!allowed && status !== 403) {
          failures.push(`${route.method} ${url} as ${caller}: ${status}, not 403`);
        }
      }
      table.push(`${route.method} ${route.url} → ${row.join(' ')}`);
    }
    // The table is printed so a reader sees what was covered.
    console.log(table.join('\n'));
    expect(failures).toEqual([]);
  });

  it('answers the dashboard and queue API with exactly 2xx for ops and admin', async () => {
    for (const caller of ['ops', 'admin'] as const) {
      expect((await call(caller, 'GET', '/admin/queues')).statusCode).toBe(200);
      expect((await call(caller, 'GET', '/api/queues')).statusCode).toBe(200);
    }
    expect((await call('editor', 'GET', '/admin/outbox')).statusCode).toBe(200);
    expect((await call('editor', 'GET', '/admin/queues')).statusCode).toBe(403);
    expect((await call('none', 'GET', '/admin/outbox')).statusCode).toBe(303);
  });

  it('refuses a revoked key and a malformed Authorization header with 401', async () => {
    const created = await createApiKey(app.store.db, 'ops');
    expect(await revokeApiKey(app.store.db, created.id)).toBe(true);
    const revoked = await server.inject({
      method: 'GET',
      url: '/api/queues',
      headers: { authorization: `Bearer ${created.key}` },
    });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json()).toMatchObject({ error: 'unknown or revoked API key' });
    for (const header of ['Basic abc', `Bearer`, `Bearer ${keys.ops} extra`, `${keys.ops}`]) {
      const response = await server.inject({
        method: 'GET',
        url: '/api/queues',
        headers: { authorization: header },
      });
      expect(response.statusCode, header).toBe(401);
    }
  });

  it('stores keys hashed: the key text is nowhere in the table', async () => {
    const created = await createApiKey(app.store.db, 'editor');
    const rows = await app.store.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(created.key);
  });

  it('opens /admin pages to a signed-in user, never with the session on /api or from another site', async () => {
    // The key-in-a-form sign-in is gone: /admin/login sends the browser to the user sign-in.
    const old = await server.inject({ method: 'GET', url: '/admin/login' });
    expect(old.statusCode).toBe(303);
    expect(old.headers.location).toBe('/console/login');
    const oldPost = await server.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `key=${encodeURIComponent(keys.ops!)}`,
    });
    expect(oldPost.statusCode).toBe(404);
    expect(oldPost.headers['set-cookie']).toBeUndefined();

    const ops = sessions.ops!;
    const page = await server.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { cookie: ops.cookie },
    });
    expect(page.statusCode).toBe(200);
    // The session does not open the /api routes (those take the key header only).
    const api = await server.inject({
      method: 'GET',
      url: '/api/queues',
      headers: { cookie: ops.cookie },
    });
    expect(api.statusCode).toBe(401);
    // A cookie-carried change from another site is refused.
    const cross = await server.inject({
      method: 'PUT',
      url: '/admin/queues/api/queues/deliveries/pause',
      headers: {
        cookie: ops.cookie,
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
    });
    expect(cross.statusCode).toBe(403);
  });
});
