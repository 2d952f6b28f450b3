// Fetching URLs from the internet: http(s) only, no private or loopback addresses unless the
// feed allows them (checked on the resolved address), one time limit, a size cap, and a feed
// parser that never expands DTD entities.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkTarget, FetchError, isPublicAddress, safeFetch } from '../src/feeds/fetch.ts';
import { parseFeedDocument } from '../src/feeds/parse.ts';
import { startFeedServer } from './helpers/feed-server.ts';

const options = { allowPrivate: false, timeoutMs: 2_000, maxBytes: 10_000, accept: '*/*' };

async function failure(promise: Promise<unknown>): Promise<FetchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FetchError) return error;
    throw error;
  }
  throw new Error('expected a FetchError');
}

describe('feed fetching safety', () => {
  it('tells public addresses from private, loopback, link-local and mapped ones', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) {
      expect(isPublicAddress(address), address).toBe(true);
    }
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.9',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fc00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
      '2002:a00:1::',
      'not-an-ip',
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
  });

  it('refuses other schemes, credentials and private address literals before connecting', () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.org/feed', 'gopher://x', 'nonsense']) {
      expect(() => checkTarget(url, true), url).toThrow(FetchError);
    }
    expect(() => checkTarget('http://user:pw@example.org/feed', false)).toThrow(/password/);
    for (const url of ['http://127.0.0.1/', 'http://[::1]/', 'http://169.254.169.254/latest']) {
      expect(() => checkTarget(url, false), url).toThrow(/private or reserved/);
      expect(() => checkTarget(url, true), url).not.toThrow();
    }
  });

  it('checks the address a name resolves to (localhost), not just the name', async () => {
    const server = await startFeedServer();
    try {
      server.routes.set('/feed', { body: 'x' });
      const port = new URL(server.base).port;
      const error = await failure(safeFetch(`http://localhost:${port}/feed`, options));
      expect(error.kind).toBe('blocked');
      expect(error.message).toMatch(/localhost resolves to a private or reserved address/);
      expect(server.requests).toHaveLength(0);
      const allowed = await safeFetch(`http://localhost:${port}/feed`, {
        ...options,
        allowPrivate: true,
      });
      expect(allowed.body.toString()).toBe('x');
    } finally {
      await server.close();
    }
  });

  it('stops at the size cap and the time limit, and names HTTP errors', async () => {
    const server = await startFeedServer();
    const allow = { ...options, allowPrivate: true, timeoutMs: 800 };
    try {
      server.routes.set('/big', { body: 'x'.repeat(50_000) });
      server.routes.set('/slow', { body: '', hang: true });
      server.routes.set('/gone', { status: 410, body: 'gone' });
      expect((await failure(safeFetch(`${server.base}/big`, allow))).kind).toBe('too-large');
      const started = Date.now();
      const slow = await failure(safeFetch(`${server.base}/slow`, allow));
      expect(slow.kind).toBe('timeout');
      // Ends at the limit, not at some socket default (a ratio of the limit, not a speed).
      expect(Date.now() - started).toBeLessThan(allow.timeoutMs * 5);
      expect(await failure(safeFetch(`${server.base}/gone`, allow))).toMatchObject({
        kind: 'http',
        status: 410,
      });
    } finally {
      await server.close();
    }
  });

  it('does not follow a redirect to another scheme', async () => {
    const redirector = createServer((_request, response) =>
      response.writeHead(302, { location: 'file:///etc/passwd' }).end(),
    );
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = redirector.address() as AddressInfo;
      const error = await failure(
        safeFetch(`http://127.0.0.1:${port}/`, { ...options, allowPrivate: true }),
      );
      expect(error.kind).toBe('scheme');
    } finally {
      redirector.close();
    }
  });

  it('leaves DTD entities unexpanded (no billion laughs)', () => {
    const levels = Array.from(
      { length: 9 },
      (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`,
    ).join('');
    const bomb = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">${levels}]><rss version="2.0"><channel><title>t</title><item><title>&l9;</title><link>https://news.example/a</link><description>d</description></item></channel></rss>`;
    const parsed = parseFeedDocument(bomb);
    expect(parsed.items).toHaveLength(1);
    expect(parsed.items[0]!.title.length).toBeLessThan(20);
  });
});
