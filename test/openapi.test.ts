// GET /api/openapi.json: an OpenAPI 3.0 document, generated from the routes' zod schemas, that
// lists every /api route the server has (from its route inventory, so new routes are checked
// without touching this file) and holds together (shape checks: every path parameter declared,
// every operation answered, every $ref resolved). Any API key may read it; no key may not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { referenceCsp } from '../src/http/console/pages/api-reference.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { signIn } from './helpers/console.ts';
import { openTestStore, type TestStore, uniqueName } from './helpers/stores.ts';

interface Operation {
  tags?: string[];
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: unknown }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas?: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  security: unknown[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'];

/** Every `$ref` string anywhere in the value. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === '$ref' && typeof child === 'string' ? [child] : refsIn(child),
  );
}

// The document does not depend on the dialect; one store is enough.
describe('OpenAPI document', () => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  let doc: Document;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    dataDir = mkdtempSync(join(tmpdir(), 'herald-openapi-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('openapi'),
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    for (const role of ['editor', 'ops', 'admin'] as const) {
      keys[role] = (await createApiKey(app.store.db, role)).key;
    }
    const response = await server.inject({
      method: 'GET',
      url: '/api/openapi.json',
      headers: { authorization: `Bearer ${keys.editor}` },
    });
    expect(response.statusCode).toBe(200);
    doc = response.json() as Document;
  });
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is OpenAPI 3.0 with a bearer security scheme applied to every operation', () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info.title).toBe('Herald API');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.components.securitySchemes).toEqual({
      apiKey: { type: 'http', scheme: 'bearer' },
    });
    expect(doc.security).toEqual([{ apiKey: [] }]);
  });

  it('lists every /api route of the server, and nothing else', () => {
    const routes = server.routeCatalogue.flatMap((route) =>
      route.method
        .filter((method) => method !== 'HEAD')
        .map((method) => ({ method: method.toLowerCase(), url: route.url })),
    );
    const api = routes.filter((route) => route.url.startsWith('/api/'));
    expect(api.length).toBeGreaterThan(30);
    const missing = api
      .map((route) => ({ ...route, path: route.url.replace(/:([A-Za-z_]\w*)/g, '{$1}') }))
      .filter((route) => !doc.paths[route.path]?.[route.method])
      .map((route) => `${route.method.toUpperCase()} ${route.url}`);
    expect(missing).toEqual([]);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method} ${path}`),
    );
    expect(documented.length).toBe(api.length);
    expect(Object.keys(doc.paths).every((path) => path.startsWith('/api/'))).toBe(true);
    for (const list of ['/api/articles', '/api/campaigns', '/api/subscribers', '/api/keys']) {
      const names = doc.paths[list]!.get!.parameters!.map((p) => `${p.in}:${p.name}`);
      expect(names, list).toEqual(expect.arrayContaining(['query:limit', 'query:cursor']));
    }
    expect(doc.paths['/api/topics']!.get).toBeDefined();
    expect(doc.paths['/api/campaigns/{id}/report']!.get).toBeDefined();
  });

  it('holds together: path parameters declared, answers described, every $ref resolved', () => {
    const problems: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(item)) {
        if (!METHODS.includes(method)) continue;
        const where = `${method.toUpperCase()} ${path}`;
        const declared = (operation.parameters ?? []).filter((p) => p.in === 'path');
        for (const name of pathParams) {
          const param = declared.find((p) => p.name === name);
          if (!param?.required) problems.push(`${where}: path parameter ${name} not declared`);
        }
        for (const param of declared) {
          if (!pathParams.includes(param.name))
            problems.push(`${where}: path parameter ${param.name} not in the path`);
        }
        const seen = new Set<string>();
        for (const param of operation.parameters ?? []) {
          const key = `${param.in}:${param.name}`;
          if (seen.has(key)) problems.push(`${where}: ${key} twice`);
          seen.add(key);
          if (!['path', 'query', 'header', 'cookie'].includes(param.in))
            problems.push(`${where}: parameter in ${param.in}`);
          if (param.schema === undefined) problems.push(`${where}: ${key} has no schema`);
        }
        const statuses = Object.keys(operation.responses ?? {});
        if (!statuses.some((status) => /^2\d\d$/.test(status)))
          problems.push(`${where}: no 2xx answer`);
        for (const status of statuses) {
          if (!/^[1-5](\d\d|XX)$/.test(status) && status !== 'default')
            problems.push(`${where}: answer ${status}`);
          if (typeof operation.responses[status]!.description !== 'string')
            problems.push(`${where}: answer ${status} has no description`);
        }
        if (!operation.responses['400'] || !operation.responses['401'])
          problems.push(`${where}: the error answers are missing`);
        if (!operation.tags?.length) problems.push(`${where}: no tag`);
        if (method === 'get' && operation.requestBody) problems.push(`${where}: GET with a body`);
      }
    }
    const schemas = doc.components.schemas ?? {};
    for (const ref of refsIn(doc)) {
      const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
      if (!name || !(name in schemas)) problems.push(`unresolved $ref ${ref}`);
    }
    expect(problems).toEqual([]);
    // The error body is the one Herald answers with.
    expect(schemas.Error).toMatchObject({
      type: 'object',
      required: ['error', 'details'],
    });
  });

  it('describes the list queries from their zod schemas (bounds, enums, patterns)', () => {
    const query = Object.fromEntries(
      doc.paths['/api/subscribers']!.get!.parameters!.map((p) => [p.name, p.schema]),
    );
    expect(query.limit).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 25 });
    expect(query.status).toMatchObject({
      enum: ['pending', 'active', 'unsubscribed', 'bounced', 'complained'],
    });
    expect(query.q).toMatchObject({ type: 'string', maxLength: 200 });
    const listed = doc.paths['/api/subscribers']!.get!.responses['200']!.content![
      'application/json'
    ]!.schema as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(listed.properties).sort()).toEqual(['items', 'next', 'total']);
  });

  it('is refused without a key and given to every role', async () => {
    const none = await server.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: expect.any(String) });
    for (const role of ['editor', 'ops', 'admin']) {
      const answer = await server.inject({
        method: 'GET',
        url: '/api/openapi.json',
        headers: { authorization: `Bearer ${keys[role]}` },
      });
      expect(answer.statusCode, role).toBe(200);
      expect(answer.json().openapi).toBe(doc.openapi);
    }
  });

  it('renders the reference at /console/api/ for signed-in users, from local files, under a strict CSP', async () => {
    const signedOut = await server.inject({
      method: 'GET',
      url: '/console/api/',
      headers: { accept: 'text/html' },
    });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toMatch(/^\/console\/login/);
    for (const url of ['/console/api/json', '/console/api/static/swagger-ui-bundle.js']) {
      // Signed out: sent to the sign-in page, never the file.
      const refused = await server.inject({ method: 'GET', url });
      expect(refused.statusCode, url).toBe(303);
      expect(refused.headers.location, url).toMatch(/^\/console\/login/);
    }

    const { cookie } = await signIn(server, 'ops');
    const page = await server.inject({ method: 'GET', url: '/console/api/', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    // Every script and stylesheet comes from this server.
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThan(2);
    expect(sources.filter((source) => /^(https?:)?\/\//.test(source))).toEqual([]);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/unsafe-eval|unsafe-inline|https:|validator\.swagger\.io/);
    // PUBLIC_URL is http here: no upgrade of our own requests.
    expect(csp).not.toMatch(/upgrade-insecure-requests/);
    const script = await server.inject({
      method: 'GET',
      url: '/console/api/static/swagger-ui-bundle.js',
      headers: { cookie },
    });
    expect(script.statusCode).toBe(200);
    const json = await server.inject({
      method: 'GET',
      url: '/console/api/json',
      headers: { cookie },
    });
    expect(json.statusCode).toBe(200);
    expect(Object.keys(json.json().paths).sort()).toEqual(Object.keys(doc.paths).sort());
  });

  it("narrows swagger-ui's CSP to our origin", () => {
    const header =
      "default-src 'self'; font-src 'self' https: data:; img-src 'self' data: validator.swagger.io; style-src 'self' https: 'sha256-x'; upgrade-insecure-requests;";
    expect(referenceCsp(header, false)).toBe(
      "default-src 'self'; font-src 'self' data:; img-src 'self' data:; style-src 'self' 'sha256-x' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='",
    );
    expect(referenceCsp(header, true)).toMatch(/; upgrade-insecure-requests$/);
  });
});
