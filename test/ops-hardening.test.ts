// The hardening plugin: security headers, rate limits on public routes only, body limits on
// public routes, and the same-origin check on browser form posts (RFC 8058 POST exempt).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { loginForm } from './helpers/console.ts';
import { DIALECTS, openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

describe.each(DIALECTS)('hardening (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        QUEUE_PREFIX: uniqueName('harden'),
        PUBLIC_RATE_LIMIT: '5',
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
  });
  afterAll(async () => {
    await server.close();
    await app.close();
    await t.dispose();
  });

  it('sends security headers on every answer', async () => {
    for (const url of ['/healthz', '/console/login', '/api/queues', '/nowhere']) {
      const response = await server.inject({ method: 'GET', url, remoteAddress: '10.0.0.1' });
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['content-security-policy'], url).toMatch(/default-src 'self'/);
      expect(response.headers['x-frame-options'], url).toBe('SAMEORIGIN');
      expect(response.headers['referrer-policy'], url).toBe('same-origin');
    }
  });

  it('rate-limits public routes per client, not the authenticated API or health checks', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const response = await server.inject({
        method: 'GET',
        url: '/console/login',
        remoteAddress: '10.0.0.2',
      });
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    // Another client still gets in.
    const other = await server.inject({
      method: 'GET',
      url: '/console/login',
      remoteAddress: '10.0.0.3',
    });
    expect(other.statusCode).toBe(200);
    const ops = await createApiKey(app.store.db, 'ops');
    for (let i = 0; i < 8; i++) {
      const api = await server.inject({
        method: 'GET',
        url: '/api/queues',
        remoteAddress: '10.0.0.2',
        headers: { authorization: `Bearer ${ops.key}` },
      });
      expect(api.statusCode).toBe(200);
      const health = await server.inject({
        method: 'GET',
        url: '/healthz',
        remoteAddress: '10.0.0.2',
      });
      expect(health.statusCode).toBe(200);
    }
  });

  it('refuses cross-site form posts but lets the RFC 8058 one-click POST through to its token check', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const forged = await server.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress: '10.0.0.4',
      headers: { ...form, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      payload: 'email=someone%40example.com',
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ error: 'cross-origin form post refused' });
    const opaque = await server.inject({
      method: 'POST',
      url: '/preferences',
      remoteAddress: '10.0.0.4',
      headers: { ...form, origin: 'null' },
      payload: 'digest=daily',
    });
    expect(opaque.statusCode).toBe(403);
    const oneClick = await server.inject({
      method: 'POST',
      url: '/unsubscribe?token=not-a-token',
      remoteAddress: '10.0.0.5',
      headers: { ...form, origin: 'https://mail.example', 'sec-fetch-site': 'cross-site' },
      payload: 'List-Unsubscribe=One-Click',
    });
    // Past the CSRF check: the route itself refuses the bad token.
    expect(oneClick.statusCode).not.toBe(403);
    expect(oneClick.statusCode).toBeLessThan(500);
    const login = await loginForm(server);
    const sameOrigin = await server.inject({
      method: 'POST',
      url: '/console/login',
      remoteAddress: '10.0.0.6',
      headers: {
        ...form,
        origin: 'http://localhost:3000',
        host: 'localhost:3000',
        cookie: login.cookie,
      },
      payload: `email=nobody%40example.org&password=wrong-password-here&_csrf=${login.token}`,
    });
    // Past the origin check: the sign-in itself refuses the password.
    expect(sameOrigin.statusCode).toBe(401);
  });

  it('caps public bodies at 64 kB while the API keeps the larger limit', async () => {
    const big = `email=${'a'.repeat(70 * 1024)}`;
    const response = await server.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress: '10.0.0.7',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: big,
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ details: null });
    const ops = await createApiKey(app.store.db, 'ops');
    const api = await server.inject({
      method: 'POST',
      url: '/api/queues/deliveries/retry',
      headers: { authorization: `Bearer ${ops.key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ pad: 'a'.repeat(70 * 1024) }),
    });
    // Read and validated (an unknown field), not cut off by the public limit.
    expect(api.statusCode).toBe(400);
    expect(api.json()).toMatchObject({ error: 'invalid retry options' });
  });
});
