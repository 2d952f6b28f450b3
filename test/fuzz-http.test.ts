// Fuzz: well over 1,000 malformed requests (wrong types, huge bodies, bad UTF-8, CRLF in
// every string field, deep JSON, odd content types, hostile path parameters) against every
// registered route (from the onRoute inventory), with no key and a valid key of each role.
// No answer may be a 5xx, the process must keep serving, and no table may change.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { type SignedIn, signIn } from './helpers/console.ts';
import {
  DIALECTS,
  openTestStore,
  ownTables,
  type TestStore,
  uniqueName,
} from './helpers/stores.ts';

/** A small seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELDS = [
  'title',
  'standfirst',
  'paragraphs',
  'topics',
  'subject',
  'template',
  'articleIds',
  'article_ids',
  'email',
  'name',
  'timezone',
  'digest',
  'status',
  'at',
  'localTime',
  'key',
  'role',
  'reason',
  'campaignId',
  'delayed',
  'id',
  'token',
  'url',
  'text',
  'html',
  'next',
  'List-Unsubscribe',
  'data',
  'opts',
  'jobId',
  'concurrency',
  'max',
  'duration',
  'delay',
  'priority',
];
const CRLF = 'x\r\nBcc: victim@example.org\r\n\r\n<script>alert(1)</script>';
const WRONG_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1e308,
  -1e308,
  2 ** 53 + 1,
  'NaN',
  '',
  ' ',
  [],
  [null],
  {},
  { $gt: '' },
  ['a', 1, { b: [] }],
  '9'.repeat(400),
  'x'.repeat(70_000),
  '\u0000',
  '\uFFFF\uD800',
  CRLF,
  '../../etc/passwd',
  "' OR 1=1 --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log-injection probe, on purpose
  '${jndi:ldap://x}',
  '{{constructor.constructor("x")()}}',
  { __proto__: { polluted: true } },
  { constructor: { prototype: { polluted: true } } },
];
const PARAM_VALUES = [
  'abc',
  '-1',
  '0',
  '1.5',
  '1e309',
  '99999999999999999999',
  '%00',
  '%ff%fe',
  '%0d%0aX:%20y',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e',
  "'%20OR%201=1",
  'x'.repeat(2_000),
  'deliveries',
  'nope',
];

/** The list endpoints' query parameters (GET /api/articles, campaigns, subscribers, keys…). */
const LIST_PARAMS = [
  'q',
  'limit',
  'cursor',
  'status',
  'topic',
  'from',
  'to',
  'kind',
  'role',
  'revoked',
];
const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const LIST_VALUES = [
  '',
  '-1',
  '0',
  '101',
  '1e9',
  'NaN',
  '%00',
  '%ff%fe',
  '%0d%0aX:%20y',
  'x'.repeat(300),
  encodeURIComponent("' OR 1=1 --"),
  '%25',
  '_',
  '%5C',
  '2026-02-30',
  '9999-99-99T99:99:99Z',
  '%5B%5D',
  cursorOf(["' OR 1=1 --", 5]),
  cursorOf(['2026-01-01T00:00:00.000Z', 2 ** 40]),
  cursorOf({ createdAt: 'x', id: 1 }),
  cursorOf(['x'.repeat(100), 1]),
  'eyJ',
];

interface Attempt {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  label: string;
}

/**
 * Hostile article bodies from the attacker review (issue 11, fault 3) and the front-matter
 * payload (fault 1). None has a usable title, so each is parsed in full and then refused.
 */
const HOSTILE_ARTICLES: Array<{ label: string; contentType: string; payload: string }> = [
  { label: '156 kB of ![', contentType: 'text/markdown', payload: '!['.repeat(78_000) },
  { label: '120 kB of **a', contentType: 'text/markdown', payload: '**a'.repeat(40_000) },
  {
    label: '---js front matter',
    contentType: 'text/markdown',
    payload: "---js\n{ title: require('child_process').execSync('id').toString() }\n---\nBody.\n",
  },
  { label: '(photo by  repeated', contentType: 'text/plain', payload: '(photo by '.repeat(15_600) },
  { label: '2,000 unclosed div', contentType: 'text/html', payload: '<div>'.repeat(2000) },
  {
    label: 'deep unclosed a',
    contentType: 'text/html',
    payload: '<p>'.concat('<a href=x>a'.repeat(50_000)),
  },
];

/** Valid HTML with no title that keeps Readability busy for seconds (under every limit). */
function slowUntitledHtml(): string {
  const chunk = `${'<div>'.repeat(60)}<p>Some text of a paragraph, long enough to count for something.</p>${'</div>'.repeat(60)}`;
  return `<html><body>${chunk.repeat(180)}</body></html>`;
}

function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * Known, reported, not ours to fix: POST /api/articles reads any unknown Content-Type
 * (multipart/form-data, text/csv) as a plain-text article, so such a body with a first line
 * is stored as an article.
 */
const KNOWN_ACCEPTED = new Set<string>([]);

/** Builds the malformed requests for one route. */
function attemptsFor(method: string, pattern: string, random: () => number): Attempt[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const fill = (value?: string) =>
    pattern
      .replace(/:[A-Za-z_]+/g, () => value ?? pick(PARAM_VALUES))
      .replace(/\*$/, pick(PARAM_VALUES));
  const json = { 'content-type': 'application/json' };
  const hasBody = method !== 'GET' && method !== 'DELETE' && method !== 'OPTIONS';
  const attempts: Attempt[] = [];
  const add = (label: string, extra: Partial<Attempt> = {}) =>
    attempts.push({ method, url: fill(), headers: {}, label, ...extra });

  // Hostile path parameters and query strings.
  for (const value of PARAM_VALUES.slice(0, 6)) add(`param ${value}`, { url: fill(value) });
  if (method === 'GET') {
    // Every list parameter at once, with hostile values, and each one repeated.
    for (let round = 0; round < 4; round++) {
      const query = LIST_PARAMS.map((name) => `${name}=${pick(LIST_VALUES)}`).join('&');
      add(`list query ${round}`, { url: `${fill('1')}?${query}` });
    }
    add('list query repeated', {
      url: `${fill('1')}?${LIST_PARAMS.map((name) => `${name}=a&${name}=b`).join('&')}`,
    });
  }
  add('query CRLF and bad UTF-8', {
    url: `${fill('1')}?id=%0d%0aSet-Cookie:%20x=1&email=%ff%fe&topics[]=1&topics[a]=2&limit=-5&page=1e99`,
  });
  if (hasBody) {
    // Wrong types in every known field.
    const wrong = Object.fromEntries(FIELDS.map((field) => [field, pick(WRONG_VALUES)]));
    add('wrong types', { headers: json, payload: JSON.stringify(wrong) });
    // The same as a browser form (the console's pages take urlencoded forms).
    add('form wrong types', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(
        FIELDS.map((field) => [field, String(pick(WRONG_VALUES))] as [string, string]),
      ).toString(),
    });
    // CRLF (header injection) in every string field.
    const crlf = Object.fromEntries(FIELDS.map((field) => [field, CRLF]));
    add('CRLF in every field', { headers: json, payload: JSON.stringify(crlf) });
    add('CRLF in every form field', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: FIELDS.map((f) => `${encodeURIComponent(f)}=${encodeURIComponent(CRLF)}`).join('&'),
    });
    // Bad UTF-8 inside a JSON string and inside a form.
    add('bad UTF-8 JSON', {
      headers: json,
      payload: Buffer.concat([
        Buffer.from('{"title":"'),
        Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
        Buffer.from('"}'),
      ]),
    });
    add('bad UTF-8 form', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: Buffer.concat([Buffer.from('email='), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80])]),
    });
    // Deep JSON, arrays as bodies, scalars as bodies, broken JSON, wrong content types.
    add('deep JSON', { headers: json, payload: deepJson(20_000) });
    add('deep array', { headers: json, payload: `${'['.repeat(20_000)}${']'.repeat(20_000)}` });
    add('array body', {
      headers: json,
      payload: JSON.stringify([pick(WRONG_VALUES), pick(WRONG_VALUES)]),
    });
    add('scalar body', { headers: json, payload: pick(['null', '1', '"x"', 'true']) });
    add('broken JSON', { headers: json, payload: '{"title": "x", ' });
    // Only whitespace and control characters: no reading of it is a valid document.
    add('text/plain control characters', {
      headers: { 'content-type': 'text/plain' },
      payload: '\r\n\r\n \t\u0000\r\n',
    });
    add('multipart garbage', {
      headers: { 'content-type': 'multipart/form-data; boundary=zz' },
      payload:
        '--zz\r\nContent-Disposition: form-data; name="file"; filename="../../x.csv"\r\n\r\n\xff\r\n--zz',
    });
    add('csv garbage', {
      headers: { 'content-type': 'text/csv' },
      payload: `email,name\n"unterminated,${CRLF}\n${'a,'.repeat(5000)}`,
    });
    add('JSON with content-length lie', { headers: { ...json }, payload: '{}' });
    if (method === 'POST' && pattern === '/api/articles') {
      for (const hostile of HOSTILE_ARTICLES)
        add(`hostile article: ${hostile.label}`, {
          headers: { 'content-type': hostile.contentType },
          payload: hostile.payload,
        });
    }
    // A body over the server's limit.
    if (random() < 0.25)
      add('huge body', { headers: json, payload: `{"title":"${'x'.repeat(3 * 1024 * 1024)}"}` });
  }
  return attempts;
}

describe.each(DIALECTS)('HTTP fuzz (%s)', (dialect) => {
  let t: TestStore;
  let app: App;
  let server: FastifyInstance;
  let dataDir: string;
  const prefix = uniqueName('fuzz');
  const bearer: Record<string, string | undefined> = { none: undefined };

  beforeAll(async () => {
    t = await openTestStore(dialect);
    dataDir = mkdtempSync(join(tmpdir(), 'herald-fuzz-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: t.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: prefix,
        // The fuzz is about input handling; rate limiting has its own test.
        PUBLIC_RATE_LIMIT: '1000000',
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    for (const role of ['editor', 'ops', 'admin'] as const) {
      bearer[role] = (await createApiKey(app.store.db, role)).key;
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(openQueues(app)).map((q) => q.obliterate({ force: true })));
    await server.close();
    await app.close();
    await t.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The server's address, listening on a real socket (started once). */
  let address: string | undefined;
  async function listening(): Promise<string> {
    address ??= await server.listen({ host: '127.0.0.1', port: 0 });
    return address;
  }

  /** Row counts of every table of the store. */
  async function rowCounts(): Promise<Record<string, number>> {
    const tables = await ownTables(app.store.db);
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const row = await app.store.db
        .selectFrom(table.name as 'articles')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      counts[table.name] = Number(row.n);
    }
    return counts;
  }

  it('answers ≥ 1,000 malformed requests without a 5xx, keeps serving, stores nothing', async () => {
    const before = await rowCounts();
    expect(Object.keys(before)).toContain('deliveries');
    const random = prng(dialect === 'sqlite' ? 8 : 88);
    const routes = server.routeCatalogue.flatMap((route) =>
      route.method.filter((m) => m !== 'HEAD').map((method) => ({ method, url: route.url })),
    );
    expect(routes.length).toBeGreaterThan(20);
    // The console's list endpoints are among them (fuzzed with the list parameters above).
    for (const url of [
      '/api/articles',
      '/api/campaigns',
      '/api/subscribers',
      '/api/topics',
      '/api/keys',
      '/api/openapi.json',
    ]) {
      expect(
        routes.some((route) => route.method === 'GET' && route.url === url),
        url,
      ).toBe(true);
    }
    const roles = ['none', 'editor', 'ops', 'admin'];
    const failures: string[] = [];
    let sent = 0;
    for (const route of routes) {
      for (const attempt of attemptsFor(route.method, route.url, random)) {
        if (KNOWN_ACCEPTED.has(`${route.method} ${route.url} [${attempt.label}]`)) continue;
        const role = roles[sent % roles.length]!;
        const key = bearer[role];
        const response = await server.inject({
          method: attempt.method as 'GET',
          url: attempt.url,
          headers: { ...attempt.headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
          ...(attempt.payload === undefined ? {} : { payload: attempt.payload }),
        });
        sent += 1;
        if (response.statusCode >= 500) {
          failures.push(
            `${attempt.method} ${route.url} [${attempt.label}] as ${role}: ${response.statusCode} ${response.body.slice(0, 200)}`,
          );
        }
      }
    }
    console.log(`fuzz (${dialect}): ${sent} requests over ${routes.length} routes`);
    expect(sent).toBeGreaterThanOrEqual(1000);
    expect(failures).toEqual([]);

    const health = await server.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(await rowCounts()).toEqual(before);
  }, 300_000);

  it('answers the console pages, signed in with each role and a valid CSRF token, without a 5xx; stores nothing', async () => {
    // Signed in first: the users it creates are not what the fuzz may change.
    const sessions: SignedIn[] = [];
    for (const role of ['editor', 'ops', 'admin'] as const)
      sessions.push(await signIn(server, role));
    const before = await rowCounts();
    const random = prng(dialect === 'sqlite' ? 14 : 41);
    const routes = server.routeCatalogue
      .filter((route) => /^\/(console|admin)(\/|$)/.test(route.url))
      // Signing out would end the session the rest of the fuzz runs in.
      .filter((route) => route.url !== '/console/logout')
      .flatMap((route) =>
        route.method.filter((m) => m !== 'HEAD').map((method) => ({ method, url: route.url })),
      );
    // Every page family of the console is among them.
    for (const family of ['articles', 'campaigns', 'subscribers', 'topics', 'users', 'keys']) {
      expect(
        routes.some((route) => route.url.startsWith(`/console/${family}`)),
        family,
      ).toBe(true);
    }
    const failures: string[] = [];
    let sent = 0;
    for (const route of routes) {
      for (const attempt of attemptsFor(route.method, route.url, random)) {
        const session = sessions[sent % sessions.length]!;
        const response = await server.inject({
          method: attempt.method as 'GET',
          url: attempt.url,
          headers: { ...attempt.headers, cookie: session.cookie, 'x-csrf-token': session.csrf },
          ...(attempt.payload === undefined ? {} : { payload: attempt.payload }),
        });
        sent += 1;
        if (response.statusCode >= 500) {
          failures.push(
            `${attempt.method} ${route.url} [${attempt.label}]: ${response.statusCode} ${response.body.slice(0, 200)}`,
          );
        }
      }
    }
    console.log(`console fuzz (${dialect}): ${sent} requests over ${routes.length} routes`);
    expect(sent).toBeGreaterThanOrEqual(500);
    expect(failures).toEqual([]);
    // Still serving, nothing stored. (The admin's session: a fuzzed admin action may disable
    // the editor or the ops user, as it may for any id; an admin cannot disable themselves.)
    const page = await server.inject({ url: '/console', headers: { cookie: sessions[2]!.cookie } });
    expect(page.statusCode).toBe(200);
    expect(await rowCounts()).toEqual(before);
  }, 300_000);

  it('answers malformed HTTP on a real socket with 4xx and keeps listening', async () => {
    const address = await listening();
    const port = Number(new URL(address).port);
    const raw = async (text: string | Buffer): Promise<string> => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.end(text);
      let answer = '';
      socket.on('data', (data: Buffer) => {
        answer += data.toString('latin1');
      });
      await once(socket, 'close');
      return answer;
    };
    const cases: Array<string | Buffer> = [
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /api/articles HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      Buffer.concat([Buffer.from('GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')]),
      'BREW /coffee HTCPCP/1.0\r\n\r\n',
    ];
    for (const text of cases) {
      const answer = await raw(text);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      expect(status, answer.slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(status, answer.slice(0, 80)).toBeLessThan(500);
    }
    const alive = await fetch(`${address}/healthz`);
    expect(alive.status).toBe(200);
  });

  it('answers GET /healthz within 1 s while a hostile article is being parsed', async () => {
    const base = await listening();
    const editor = { authorization: `Bearer ${bearer.editor}` };
    // Start the parser's worker first, so the hostile parse below runs while we measure.
    const warm = await fetch(`${base}/api/articles`, {
      method: 'POST',
      headers: { ...editor, 'content-type': 'text/plain' },
      body: 'Only a title',
    });
    expect(warm.status).toBe(400);
    let parsing = true;
    const hostile = fetch(`${base}/api/articles`, {
      method: 'POST',
      headers: { ...editor, 'content-type': 'text/html' },
      body: slowUntitledHtml(),
    }).then((response) => {
      parsing = false;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waits: number[] = [];
    let answeredDuringParse = 0;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const health = await fetch(`${base}/healthz`);
      waits.push(performance.now() - started);
      expect(health.status).toBe(200);
      if (parsing) answeredDuringParse += 1;
    }
    // The parse took longer than the three answers: they were served while it ran.
    expect(answeredDuringParse).toBe(3);
    for (const wait of waits) expect(wait).toBeLessThan(1000);
    const refused = await hostile;
    expect([400, 422]).toContain(refused.status);
  }, 120_000);
});
