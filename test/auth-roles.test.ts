// Each role (none, editor, ops, admin) against each route family: 401 / 403 / allowed.
// /api routes come from the server's route inventory (an onRoute hook in the hardening
// plugin), so routes other families add are covered without touching this file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey, revokeApiKey } from '../src/keys/index.ts';
import type { ApiRole } from '../src/store/schema.ts';
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
  if (/^\/api\/keys(\/|$)/.test(url)) return { name: 'keys', roles: [] };
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
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function call(caller: Caller, method: string, url: string) {
    const key = keys[caller];
    return server.inject({
      method: method as 'GET',
      url,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      ...(method === 'GET' || method === 'HEAD' || method === 'DELETE' ? {} : { payload: {} }),
    });
  }

  it('covers every /api route: 401 without a key, 403 for a wrong role, allowed for the right one', async () => {
    const routes = server.routeCatalogue.flatMap((route) =>
      route.method.filter((m) => m !== 'HEAD').map((method) => ({ method, url: route.url })),
    );
    const checked = routes.filter(
      (r) =>
        r.url.startsWith('/api/') ||
        r.url.startsWith('/admin/queues') ||
        r.url.startsWith('/admin/outbox'),
    );
    // Our own families are there at least; the editor families join as they are registered.
    expect(checked.some((r) => r.url === '/api/queues')).toBe(true);
    expect(checked.some((r) => r.url === '/admin/queues')).toBe(true);

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
          if (status !== 401)
            failures.push(`${route.method} ${url} without key: ${status}, not 401`);
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
    expect((await call('none', 'GET', '/admin/outbox')).statusCode).toBe(401);
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

  it('lets a browser sign in with a key: HttpOnly SameSite=Strict cookie, then the console', async () => {
    const login = await server.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `key=${encodeURIComponent(keys.ops!)}&next=%2Fadmin%2Fqueues`,
    });
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/admin/queues');
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/admin/);
    const pair = cookie.split(';')[0]!;
    const page = await server.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { cookie: pair },
    });
    expect(page.statusCode).toBe(200);
    // The cookie does not open the /api routes (those take the header only).
    const api = await server.inject({
      method: 'GET',
      url: '/api/queues',
      headers: { cookie: pair },
    });
    expect(api.statusCode).toBe(401);
    // A cookie-carried change from another site is refused.
    const cross = await server.inject({
      method: 'PUT',
      url: '/admin/queues/api/queues/deliveries/pause',
      headers: { cookie: pair, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(cross.statusCode).toBe(403);
    const bad = await server.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'key=hk_nope&next=https://evil.example/',
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
  });
});
