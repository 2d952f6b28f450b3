// Public pages against a real store and a real SMTP sink: subscribe → confirmation mail →
// confirm, preferences, the exact RFC 8058 one-click POST, no enumeration, bad tokens.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import {
  findSubscriberByEmail,
  getSubscriber,
  upsertSubscriber,
} from '../src/subscribers/repository.ts';
import { suppressionOf } from '../src/subscribers/suppressions.ts';
import { signToken, type TokenClaims, type TokenPurpose } from '../src/tokens/index.ts';
import { subscriberKeyOf } from '../src/tokens/subject.ts';
import { insertTopics } from './helpers/rows.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const SECRET = 'public-test-secret-0123456789-abcdef';
const PUBLIC_URL = 'https://news.example.org';

interface Sink {
  url: string;
  messages: Array<{ to: string[]; raw: Buffer }>;
  close(): Promise<void>;
}

async function startSink(): Promise<Sink> {
  const messages: Sink['messages'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const form = (fields: Record<string, string | string[]>) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  return params.toString();
};

const FORM = { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC_URL };

describe.each(DIALECTS)('public pages on %s', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let sink: Sink;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    sink = await startSink();
    const target = await createTestTarget(dialect);
    dispose = target.dispose;
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        QUEUE_PREFIX: uniqueName('pub'),
        LOG_LEVEL: 'silent',
        HERALD_SECRET: SECRET,
        PUBLIC_URL,
        MAIL_FROM: 'Herald News <news@example.org>',
        SMTP_URL: sink.url,
      }),
    );
    await insertTopics(app.store.db, [
      ['russia-china', 'Russia-China relations'],
      ['economy', 'Economy'],
    ]);
    server = await buildServer(app);
  });
  /** A token as Herald mints it: with the subscriber's key. */
  const tokenOf = async (
    purpose: TokenPurpose,
    subscriberId: number,
    extra: Omit<TokenClaims, 'subscriberId'> = {},
  ) =>
    signToken(SECRET, purpose, {
      subscriberId,
      subscriberKey: (await subscriberKeyOf(app.store.db, subscriberId)) ?? undefined,
      ...extra,
    });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await sink?.close();
    await dispose?.();
  });

  it('serves an accessible, mobile-friendly subscribe form with the topic catalogue', async () => {
    const res = await server.inject({ method: 'GET', url: '/subscribe' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('<html lang="en">');
    expect(res.body).toContain('name="viewport"');
    expect(res.body).toContain('<label for="email">');
    expect(res.body).toContain('value="russia-china"');
    expect(res.body).toContain('Russia-China relations');
    expect(res.body).toContain('<select id="timezone"');
    const js = await server.inject({ method: 'GET', url: '/subscribe.js' });
    expect(js.body).toContain('resolvedOptions().timeZone');
  });

  it('subscribe → confirmation mail over SMTP → confirm activates; same answer for a known address', async () => {
    const before = sink.messages.length;
    const res = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: FORM,
      payload: form({
        email: 'Reader@Example.ORG',
        name: 'Reader',
        topics: ['russia-china', 'economy'],
        digest: 'weekly',
        timezone: 'Asia/Tokyo',
      }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Check your inbox');
    const stored = await findSubscriberByEmail(app.store.db, 'Reader@example.org');
    expect(stored).toMatchObject({
      status: 'pending',
      topics: ['economy', 'russia-china'],
      digest: 'weekly',
      timezone: 'Asia/Tokyo',
    });

    const message = await waitFor(() => sink.messages[before]);
    expect(message.to).toEqual(['Reader@example.org']);
    const parsed = await simpleParser(message.raw);
    expect(parsed.subject).toBe('Please confirm your subscription');
    expect(parsed.from?.text).toContain('news@example.org');
    const link = /https:\/\/news\.example\.org\/confirm\?token=[A-Za-z0-9_.-]+/.exec(
      parsed.text ?? '',
    )?.[0];
    expect(link).toBeDefined();
    expect(parsed.html).toContain(link!);

    // The same request again (address now known): same status and page, no new row.
    const again = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: FORM,
      payload: form({ email: 'Reader@example.org' }),
    });
    expect(again.statusCode).toBe(res.statusCode);
    expect(again.body).toBe(res.body);
    const count = await app.store.db
      .selectFrom('subscribers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
    // Still pending: the confirmation is sent again.
    await waitFor(() => sink.messages[before + 1]);

    const path = link!.replace(PUBLIC_URL, '');
    const altered = await server.inject({ method: 'GET', url: `${path.slice(0, -2)}xx` });
    expect(altered.statusCode).toBe(400);
    expect(altered.body).toContain('not valid');
    expect((await getSubscriber(app.store.db, stored!.id))?.status).toBe('pending');

    const expired = await tokenOf('confirm', stored!.id, {
      expiresAt: new Date(Date.now() - 60_000),
    });
    const old = await server.inject({ method: 'GET', url: `/confirm?token=${expired}` });
    expect(old.statusCode).toBe(400);
    expect(old.body).toContain('expired');

    // GET and HEAD (link scanners) show a button and change nothing; the POST confirms.
    for (const method of ['GET', 'HEAD'] as const) {
      const shown = await server.inject({ method, url: path });
      expect(shown.statusCode).toBe(200);
    }
    const shown = await server.inject({ method: 'GET', url: path });
    expect(shown.body).toContain('<form method="post" action="/confirm?token=');
    expect((await getSubscriber(app.store.db, stored!.id))?.status).toBe('pending');
    const confirmed = await server.inject({
      method: 'POST',
      url: path,
      headers: FORM,
      payload: '',
    });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.body).toContain('You are subscribed');
    expect((await getSubscriber(app.store.db, stored!.id))?.status).toBe('active');

    // An active subscriber asking again: same answer; the owner gets a "manage" note only.
    const mails = sink.messages.length;
    const third = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { 'content-type': 'application/json' },
      payload: { email: 'Reader@example.org', topics: ['economy'] },
    });
    expect(third.statusCode).toBe(202);
    const note = await simpleParser((await waitFor(() => sink.messages[mails])).raw);
    expect(note.subject).toBe('Your Herald subscription');
    expect(note.text).toContain('/preferences?token=');
    expect(await getSubscriber(app.store.db, stored!.id)).toMatchObject({
      status: 'active',
      topics: ['economy', 'russia-china'],
    });
  });

  it('refuses bad input with the field named and stores nothing; refuses cross-site form posts', async () => {
    const bad = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { 'content-type': 'application/json' },
      payload: { email: 'nobody', timezone: 'UTC' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details[0].field).toBe('email');
    const zone = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: FORM,
      payload: form({ email: 'zone@example.org', timezone: 'Mars/Olympus' }),
    });
    expect(zone.statusCode).toBe(400);
    expect(zone.body).toContain('bad time zone');
    const topic = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { 'content-type': 'application/json' },
      payload: { email: 'topic@example.org', topics: ['nope'] },
    });
    expect(topic.statusCode).toBe(400);
    expect(topic.json().details[0].field).toBe('topics');
    const csrf = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { ...FORM, origin: 'https://evil.example' },
      payload: form({ email: 'victim@example.org' }),
    });
    expect(csrf.statusCode).toBe(403);
    for (const email of ['zone@example.org', 'topic@example.org', 'victim@example.org']) {
      expect(await findSubscriberByEmail(app.store.db, email)).toBeNull();
    }
  });

  it('the exact RFC 8058 one-click POST unsubscribes at once: 200, no Location', async () => {
    const { id } = await upsertSubscriber(app.store.db, {
      email: 'oneclick@example.org',
      topics: ['economy'],
    });
    const token = await tokenOf('unsubscribe', id, { campaignId: 7 });
    // A GET (link scanners) shows the button and changes nothing.
    const get = await server.inject({ method: 'GET', url: `/unsubscribe?token=${token}` });
    expect(get.statusCode).toBe(200);
    expect(get.body).toContain('name="List-Unsubscribe" value="One-Click"');
    expect((await getSubscriber(app.store.db, id))?.status).toBe('active');

    // What a mailbox provider sends: no Origin, no cookies, the form body only.
    const res = await server.inject({
      method: 'POST',
      url: `/unsubscribe?token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers.location).toBeUndefined();
    expect((await getSubscriber(app.store.db, id))?.status).toBe('unsubscribed');
    expect(await suppressionOf(app.store.db, 'oneclick@example.org')).toBe('unsubscribe');
    const event = await app.store.db
      .selectFrom('events')
      .selectAll()
      .where('subscriber_id', '=', id)
      .where('type', '=', 'unsubscribe')
      .executeTakeFirstOrThrow();
    expect(event.campaign_id).toBe(7);

    // Cross-site with an Origin (some providers send one) and multipart/form-data: still 200.
    const other = await upsertSubscriber(app.store.db, { email: 'multi@example.org' });
    const token2 = await tokenOf('unsubscribe', other.id);
    const multipart = await server.inject({
      method: 'POST',
      url: `/unsubscribe?token=${token2}`,
      headers: {
        'content-type': 'multipart/form-data; boundary=XyZ',
        origin: 'https://mail.provider.example',
      },
      payload:
        '--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XyZ--\r\n',
    });
    expect(multipart.statusCode).toBe(200);
    expect(multipart.headers.location).toBeUndefined();
    expect((await getSubscriber(app.store.db, other.id))?.status).toBe('unsubscribed');

    const forged = await server.inject({
      method: 'POST',
      url: `/unsubscribe?token=${token2.slice(0, -3)}abc`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(forged.statusCode).toBe(400);
  });

  it('preferences: change topics, unsubscribe one topic, download data, delete me', async () => {
    const { id } = await upsertSubscriber(app.store.db, {
      email: 'prefs@example.org',
      name: 'Pat',
      topics: ['economy'],
    });
    const token = await tokenOf('preferences', id);
    const url = `/preferences?token=${token}`;
    const page = await server.inject({ method: 'GET', url });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('prefs@example.org');

    const saved = await server.inject({
      method: 'POST',
      url,
      headers: FORM,
      payload: form({
        action: 'save',
        name: 'Pat Q',
        topics: ['russia-china', 'economy'],
        digest: 'daily',
        send_hour: '18',
        timezone: 'Europe/Berlin',
      }),
    });
    expect(saved.statusCode).toBe(200);
    expect(saved.body).toContain('Your preferences are saved');
    expect(await getSubscriber(app.store.db, id)).toMatchObject({
      name: 'Pat Q',
      topics: ['economy', 'russia-china'],
      digest: 'daily',
      sendHour: 18,
      timezone: 'Europe/Berlin',
    });

    const badZone = await server.inject({
      method: 'POST',
      url,
      headers: FORM,
      payload: form({ action: 'save', topics: 'economy', timezone: 'Nowhere/Land' }),
    });
    expect(badZone.statusCode).toBe(400);
    expect((await getSubscriber(app.store.db, id))?.timezone).toBe('Europe/Berlin');

    await server.inject({
      method: 'POST',
      url,
      headers: FORM,
      payload: form({ action: 'unsubscribe-topic', topic: 'economy' }),
    });
    expect((await getSubscriber(app.store.db, id))?.topics).toEqual(['russia-china']);

    const data = await server.inject({ method: 'GET', url: `/preferences/data?token=${token}` });
    expect(data.statusCode).toBe(200);
    expect(data.headers['content-disposition']).toContain('attachment');
    expect(data.json().subscriber).toMatchObject({ email: 'prefs@example.org', name: 'Pat Q' });

    const wrongPurpose = await server.inject({
      method: 'GET',
      url: `/preferences?token=${await tokenOf('unsubscribe', id)}`,
    });
    expect(wrongPurpose.statusCode).toBe(400);

    const erase = await server.inject({
      method: 'POST',
      url,
      headers: FORM,
      payload: form({ action: 'erase', confirm_erase: 'yes' }),
    });
    expect(erase.statusCode).toBe(200);
    expect(await getSubscriber(app.store.db, id)).toBeNull();
    expect(await suppressionOf(app.store.db, 'prefs@example.org')).toBe('erased');
    // Subscribing again is answered the same way but sends nothing and stores nothing.
    const mails = sink.messages.length;
    const again = await server.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { 'content-type': 'application/json' },
      payload: { email: 'prefs@example.org' },
    });
    expect(again.statusCode).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sink.messages.length).toBe(mails);
    expect(await findSubscriberByEmail(app.store.db, 'prefs@example.org')).toBeNull();
  });
  it('rate-limits subscribe posts per client', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await server.inject({
        method: 'POST',
        url: '/subscribe',
        headers: { 'content-type': 'application/json' },
        payload: { email: 'bad address' },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s !== 400 && s !== 429)).toEqual([]);
  });
});
