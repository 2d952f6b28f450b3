// Faults 4, 5 and 6 of issue 11 and the public-form weak points, reproduced against a real
// store (both dialects), Redis and an SMTP sink: forwarded-for spoofing, inbox flooding, the
// content-type CSRF bypass (and cross-site sign-out), old confirm links re-subscribing,
// console cookies holding the key, attacker text in confirmation mails, known addresses
// overwritten by strangers, multipart on public routes, server timeouts, CSP on http.
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { CONSOLE_COOKIE } from '../src/http/auth.ts';
import { MAILS_PER_ADDRESS_PER_DAY, MAILS_PER_CLIENT_PER_HOUR } from '../src/http/public/index.ts';
import {
  buildServer,
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  REQUEST_TIMEOUT_MS,
} from '../src/http/server.ts';
import { buildConfirmation } from '../src/subscribers/confirmation.ts';
import { unsubscribe } from '../src/subscribers/events.ts';
import {
  findSubscriberByEmail,
  getSubscriber,
  upsertSubscriber,
} from '../src/subscribers/repository.ts';
import { suppressionOf } from '../src/subscribers/suppressions.ts';
import { signToken } from '../src/tokens/index.ts';
import { subscriberKeyOf } from '../src/tokens/subject.ts';
import { createConsoleUser, csrfOfPage, postLogin, signIn } from './helpers/console.ts';
import { insertTopics } from './helpers/rows.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const SECRET = 'security-public-secret-0123456789-abcdef';
const PUBLIC_URL = 'https://news.example.org';
const JSON_TYPE = { 'content-type': 'application/json' };

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('TRUST_PROXY', () => {
  it('defaults to none and takes only addresses or CIDR ranges, naming the variable otherwise', () => {
    expect(parseConfig({}).TRUST_PROXY).toEqual([]);
    expect(parseConfig({ TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,::1' }).TRUST_PROXY).toEqual([
      '10.0.0.1',
      '192.168.0.0/16',
      '::1',
    ]);
    for (const bad of ['true', '*', '10.0.0.1/33', 'proxy.example']) {
      expect(() => parseConfig({ TRUST_PROXY: bad }), bad).toThrow(/^Invalid TRUST_PROXY: /);
    }
  });
});

describe.each(DIALECTS)('public forms on %s', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let sink: SmtpSink;
  let dispose: () => Promise<void>;

  const open = async (extra: Record<string, string> = {}) => {
    const target = await createTestTarget(dialect);
    const opened = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        QUEUE_PREFIX: uniqueName('secpub'),
        LOG_LEVEL: 'silent',
        HERALD_SECRET: SECRET,
        PUBLIC_URL,
        MAIL_FROM: 'Herald News <news@example.org>',
        SMTP_URL: sink.url,
        ...extra,
      }),
    );
    await insertTopics(opened.store.db, [
      ['economy', 'Economy'],
      ['russia-china', 'Russia-China relations'],
    ]);
    return { app: opened, server: await buildServer(opened), dispose: target.dispose };
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
    ({ app, server, dispose } = await open());
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await dispose?.();
    await sink?.close();
  });

  const mailsTo = (address: string) => sink.messages.filter((m) => m.to.includes(address));
  const subscribe = (payload: object, remoteAddress: string, headers: object = JSON_TYPE) =>
    server.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress,
      headers: { ...headers },
      payload: payload as never,
    });

  it('fault 4: X-Forwarded-For does not choose the rate-limit key unless the proxy is trusted', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await subscribe({ email: 'bad address' }, '10.1.0.1', {
        ...JSON_TYPE,
        'x-forwarded-for': `203.0.113.${i}`,
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toContain(429);

    // Behind a configured proxy the forwarded address is the client.
    const proxied = await open({ TRUST_PROXY: '10.9.9.9' });
    try {
      const seen: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await proxied.server.inject({
          method: 'POST',
          url: '/subscribe',
          remoteAddress: '10.9.9.9',
          headers: { ...JSON_TYPE, 'x-forwarded-for': `203.0.113.${i}` },
          payload: { email: 'bad address' },
        });
        seen.push(res.statusCode);
      }
      expect(seen).not.toContain(429);
    } finally {
      await proxied.server.close();
      await proxied.app.close();
      await proxied.dispose();
    }
  });

  it(`fault 4: one inbox gets at most ${MAILS_PER_ADDRESS_PER_DAY} mails a day, one client causes at most ${MAILS_PER_CLIENT_PER_HOUR} an hour`, async () => {
    const answers = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await subscribe({ email: 'flooded@example.org' }, `10.2.0.${i}`);
      expect(res.statusCode).toBe(202);
      answers.add(res.body);
    }
    await settle();
    expect(mailsTo('flooded@example.org')).toHaveLength(MAILS_PER_ADDRESS_PER_DAY);
    // The answer never says whether a mail went.
    expect(answers.size).toBe(1);

    for (let i = 0; i < 8; i++) {
      const res = await subscribe({ email: `spray${i}@example.org` }, '10.2.1.1');
      expect(res.statusCode).toBe(202);
    }
    await settle();
    const sprayed = sink.messages.filter((m) => m.to.some((to) => to.startsWith('spray')));
    expect(sprayed).toHaveLength(MAILS_PER_CLIENT_PER_HOUR);
  });

  it('fault 5: a form post with a JSON-looking parameter and the one-click field is still cross-site', async () => {
    const forged = await server.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress: '10.3.0.1',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; x=application/json',
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      payload: 'email=csrf-victim%40example.org&List-Unsubscribe=One-Click',
    });
    expect(forged.statusCode).toBe(403);
    await settle();
    expect(await findSubscriberByEmail(app.store.db, 'csrf-victim@example.org')).toBeNull();
    expect(mailsTo('csrf-victim@example.org')).toHaveLength(0);

    // The one-click field opens no other route either (console sign-out).
    const { cookie } = await signIn(server, 'ops');
    const signOut = await server.inject({
      method: 'POST',
      url: '/console/logout',
      remoteAddress: '10.3.0.2',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
        cookie,
      },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(signOut.statusCode).toBe(403);
    const still = await server.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(still.statusCode).toBe(200);

    // The real RFC 8058 POST from a mail provider's site still works.
    const { id } = await upsertSubscriber(app.store.db, { email: 'oneclick2@example.org' });
    const token = signToken(SECRET, 'unsubscribe', {
      subscriberId: id,
      subscriberKey: (await subscriberKeyOf(app.store.db, id))!,
    });
    const oneClick = await server.inject({
      method: 'POST',
      url: `/unsubscribe?token=${token}`,
      remoteAddress: '10.3.0.3',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'https://mail.example',
        'sec-fetch-site': 'cross-site',
      },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.statusCode).toBe(200);
    expect((await getSubscriber(app.store.db, id))?.status).toBe('unsubscribed');
  });

  it('fault 6: an old confirm link never undoes an unsubscribe, bounce or complaint', async () => {
    const confirmLink = async (id: number) =>
      `/confirm?token=${signToken(SECRET, 'confirm', {
        subscriberId: id,
        subscriberKey: (await subscriberKeyOf(app.store.db, id))!,
        expiresAt: new Date(Date.now() + 3_600_000),
      })}`;
    const post = (url: string) =>
      server.inject({
        method: 'POST',
        url,
        remoteAddress: '10.4.0.1',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_URL },
        payload: '',
      });

    const { id } = await upsertSubscriber(app.store.db, {
      email: 'quitter@example.org',
      status: 'pending',
      topics: ['economy'],
    });
    const link = await confirmLink(id);
    expect((await post(link)).statusCode).toBe(200);
    await unsubscribe(app.store.db, id, {});
    expect(await suppressionOf(app.store.db, 'quitter@example.org')).toBe('unsubscribe');
    const replay = await post(link);
    expect(replay.statusCode).toBe(410);
    expect((await getSubscriber(app.store.db, id))?.status).toBe('unsubscribed');
    expect(await suppressionOf(app.store.db, 'quitter@example.org')).toBe('unsubscribe');
    // Coming back is the token holder's explicit POST from the preferences page.
    const quitterPrefs = `/preferences?token=${signToken(SECRET, 'preferences', {
      subscriberId: id,
      subscriberKey: (await subscriberKeyOf(app.store.db, id))!,
    })}`;
    const unsubscribedPage = await server.inject({ method: 'GET', url: quitterPrefs });
    expect(unsubscribedPage.body).toContain('You are unsubscribed');
    expect(unsubscribedPage.body).toContain('value="resubscribe"');
    const back = await server.inject({
      method: 'POST',
      url: quitterPrefs,
      remoteAddress: '10.4.0.1',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_URL },
      payload: 'action=resubscribe',
    });
    expect(back.statusCode).toBe(200);
    expect((await getSubscriber(app.store.db, id))?.status).toBe('active');
    expect(await suppressionOf(app.store.db, 'quitter@example.org')).toBeNull();

    for (const status of ['bounced', 'complained'] as const) {
      const other = await upsertSubscriber(app.store.db, {
        email: `${status}@example.org`,
      });
      await app.store.db
        .updateTable('subscribers')
        .set({ status })
        .where('id', '=', other.id)
        .execute();
      expect((await post(await confirmLink(other.id))).statusCode).toBe(410);
      expect((await getSubscriber(app.store.db, other.id))?.status).toBe(status);
      // Nor does "subscribe again" on the preferences page bring them back.
      const prefs = `/preferences?token=${signToken(SECRET, 'preferences', {
        subscriberId: other.id,
        subscriberKey: (await subscriberKeyOf(app.store.db, other.id))!,
      })}`;
      const again = await server.inject({
        method: 'POST',
        url: prefs,
        remoteAddress: '10.4.0.1',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_URL },
        payload: 'action=resubscribe',
      });
      expect(again.statusCode).toBe(409);
      expect((await getSubscriber(app.store.db, other.id))?.status).toBe(status);
    }
  });

  it('an anonymous subscribe for a known address changes nothing and mails its owner a preferences note', async () => {
    const { id } = await upsertSubscriber(app.store.db, {
      email: 'owner@example.org',
      name: 'Owner',
      topics: ['economy'],
      digest: 'daily',
      timezone: 'Europe/Berlin',
    });
    const before = await getSubscriber(app.store.db, id);
    const stranger = await subscribe(
      {
        email: 'owner@example.org',
        name: 'Mallory',
        topics: ['russia-china'],
        digest: 'off',
        timezone: 'Asia/Tokyo',
      },
      '10.5.0.1',
    );
    const fresh = await subscribe({ email: 'nobody-yet@example.org' }, '10.5.0.2');
    expect(stranger.statusCode).toBe(fresh.statusCode);
    expect(stranger.body).toBe(fresh.body);
    expect(await getSubscriber(app.store.db, id)).toEqual(before);
    await settle();
    const [note] = mailsTo('owner@example.org');
    expect(note).toBeDefined();
    const parsed = await sink.parse(note!);
    expect(parsed.subject).toBe('Your Herald subscription');
    expect(parsed.text).toContain('/preferences?token=');
    expect(parsed.text).not.toContain('Mallory');
  });

  it('confirmation mails carry no text a stranger chose beyond a short plain name', async () => {
    const config = app.config;
    const base = { subscriberId: 1, email: 'target@example.org', tokenKey: '0123456789abcdef' };
    for (const name of [
      'Win a prize at http://evil.example now',
      '<a href="https://evil.example">Click</a>',
      'A'.repeat(41),
    ]) {
      const message = await buildConfirmation(config, { ...base, name });
      const raw = message.raw.toString();
      // The bodies are base64: read them decoded, as a mail client shows them.
      const parsed = await simpleParser(message.raw);
      const shown = `${parsed.subject}\n${parsed.text}\n${parsed.html}`;
      expect(shown, name).not.toContain('evil.example');
      expect(shown, name).not.toContain('A'.repeat(41));
      expect(parsed.text, name).toContain('Hello,');
      expect(raw, name).not.toContain('evil.example');
      expect(raw, name).toMatch(/^To: target@example\.org\r$/m);
    }
    const named = await simpleParser(
      (await buildConfirmation(config, { ...base, name: "Zoë O'Brien-Smith" })).raw,
    );
    expect(named.text).toContain("Hello Zoë O'Brien-Smith,");
  });

  it('the console cookie holds a random session id, revoked by sign-out', async () => {
    const user = await createConsoleUser(app, 'ops');
    const login = await postLogin(server, user);
    expect(login.statusCode).toBe(303);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).not.toContain(user.password);
    expect(setCookie).not.toContain(encodeURIComponent(user.password));
    const cookie = setCookie.split(';')[0]!;
    expect(cookie.startsWith(`${CONSOLE_COOKIE}=`)).toBe(true);
    const sessionId = cookie.slice(CONSOLE_COOKIE.length + 1);
    // Redis keeps neither the password nor the raw session id, and every session expires.
    const keys = await app.redis().keys(`${app.config.QUEUE_PREFIX}:session:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(sessionId);
      expect(await app.redis().get(key)).not.toContain(user.password);
      expect(await app.redis().get(key)).not.toContain(sessionId);
      expect(await app.redis().ttl(key)).toBeGreaterThan(0);
    }

    const page = await server.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    const dashboard = await server.inject({ method: 'GET', url: '/console', headers: { cookie } });
    const out = await server.inject({
      method: 'POST',
      url: '/console/logout',
      remoteAddress: '10.6.0.1',
      headers: { cookie, 'x-csrf-token': csrfOfPage(dashboard.body) },
    });
    expect(out.statusCode).toBe(303);
    // The old cookie, replayed after sign-out, opens nothing.
    const replay = await server.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { cookie },
    });
    expect(replay.statusCode).toBe(303);
    expect(replay.headers.location).toBe('/console/login');
  });

  it('public routes take urlencoded and JSON; multipart only as a small RFC 8058 body', async () => {
    const multipart = await server.inject({
      method: 'POST',
      url: '/subscribe',
      remoteAddress: '10.7.0.1',
      headers: { 'content-type': 'multipart/form-data; boundary=X', origin: PUBLIC_URL },
      payload:
        '--X\r\nContent-Disposition: form-data; name="email"\r\n\r\nm@example.org\r\n--X--\r\n',
    });
    expect(multipart.statusCode).toBe(415);
    const big = await server.inject({
      method: 'POST',
      url: '/unsubscribe?token=x',
      remoteAddress: '10.7.0.2',
      headers: { 'content-type': 'multipart/form-data; boundary=X' },
      payload: `--X\r\nContent-Disposition: form-data; name="pad"\r\n\r\n${'a'.repeat(8 * 1024)}\r\n--X--\r\n`,
    });
    expect(big.statusCode).toBe(413);
    // Many parts cost no more than a linear scan.
    const many = await server.inject({
      method: 'POST',
      url: '/unsubscribe?token=x',
      remoteAddress: '10.7.0.3',
      headers: { 'content-type': 'multipart/form-data; boundary=X' },
      payload: `${'--X\r\nname="a"\r\n'.repeat(250)}`,
    });
    expect(many.statusCode).toBeLessThan(500);
  });

  it('bounds slow clients: header, request and keep-alive timeouts and a connection cap', () => {
    const http = server.server;
    expect(http.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect(http.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(http.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
    expect(http.maxConnections).toBe(MAX_CONNECTIONS);
    expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);
  });

  it('asks browsers to upgrade to https only when PUBLIC_URL is https', async () => {
    const https = await server.inject({
      method: 'GET',
      url: '/subscribe',
      remoteAddress: '10.8.0.1',
    });
    expect(https.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    const plain = await open({ PUBLIC_URL: 'http://herald.internal:3000' });
    try {
      const res = await plain.server.inject({
        method: 'GET',
        url: '/subscribe',
        remoteAddress: '10.8.0.2',
      });
      expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
      expect(res.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await plain.server.close();
      await plain.app.close();
      await plain.dispose();
    }
  });
});
