// Fetching a URL that came from outside (a feed, or the page a feed item links to): http(s)
// only, every address the name resolves to must be public unless the feed allows private
// ones (checked on the address actually connected to, so DNS rebinding cannot slip past),
// redirects re-checked hop by hop, one time limit for the whole request, a body size cap,
// conditional headers for polling.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type FetchFailure = 'scheme' | 'blocked' | 'timeout' | 'too-large' | 'http' | 'network';

/** A fetch that did not give a usable body; `message` is safe to show and store. */
export class FetchError extends Error {
  constructor(
    message: string,
    readonly kind: FetchFailure,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface FetchOptions {
  /** Whether private addresses may be fetched: always, never, or per URL (each hop asked). */
  allowPrivate: boolean | ((url: URL) => boolean);
  timeoutMs: number;
  maxBytes: number;
  accept: string;
  /** Validators from the last good fetch, for a 304. */
  etag?: string | null;
  lastModified?: string | null;
}

export interface FetchResult {
  /** The URL the body came from (after redirects). */
  url: string;
  notModified: boolean;
  body: Buffer;
  contentType: string | null;
  etag: string | null;
  lastModified: string | null;
}

const MAX_REDIRECTS = 5;

/** True for an address on the public internet (not private, loopback, link-local, reserved…). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  // Everything ipaddr.js names (loopback, private, linkLocal, uniqueLocal, carrierGradeNat,
  // 6to4, teredo, rfc6052 …) is refused; only plain unicast is public.
  return parsed.range() === 'unicast';
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A DNS lookup that refuses names resolving to any non-public address. */
function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      const blocked = allowPrivate
        ? undefined
        : addresses.find((entry) => !isPublicAddress(entry.address));
      if (blocked || addresses.length === 0) {
        const reason = blocked
          ? `${hostname} resolves to a private or reserved address (${blocked.address}); add the feed with --allow-private to allow it`
          : `${hostname} has no address`;
        callback(new FetchError(reason, 'blocked') as unknown as NodeJS.ErrnoException, []);
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** Checks scheme and (for an address literal) the address, before any connection. */
export function checkTarget(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchError(`"${raw.slice(0, 200)}" is not a URL`, 'scheme');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError(`only http and https URLs are fetched, not ${url.protocol}`, 'scheme');
  }
  if (url.username || url.password) {
    throw new FetchError('URLs with a user name or password are not fetched', 'scheme');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // Node connects to an address literal without a lookup: check it here.
  if (isIP(host) && !allowPrivate && !isPublicAddress(host)) {
    throw new FetchError(
      `${host} is a private or reserved address; add the feed with --allow-private to allow it`,
      'blocked',
    );
  }
  return url;
}

function privateAllowed(url: URL, allow: FetchOptions['allowPrivate']): boolean {
  return typeof allow === 'function' ? allow(url) : allow;
}

/** checkTarget for one hop, with the private-address rule for that hop's URL. */
function checkHop(raw: string, allow: FetchOptions['allowPrivate']): URL {
  if (typeof allow === 'boolean') return checkTarget(raw, allow);
  return checkTarget(raw, allow(checkTarget(raw, true)));
}

/** Fetches a URL under the rules above; 304 gives `notModified` and an empty body. */
export async function safeFetch(raw: string, options: FetchOptions): Promise<FetchResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    let url = checkHop(raw, options.allowPrivate);
    for (let hop = 0; ; hop += 1) {
      const result = await requestOnce(
        url,
        { ...options, allowPrivate: privateAllowed(url, options.allowPrivate) },
        controller.signal,
      );
      if ('redirect' in result) {
        if (hop >= MAX_REDIRECTS) throw new FetchError('too many redirects', 'http');
        url = checkHop(new URL(result.redirect, url).toString(), options.allowPrivate);
        continue;
      }
      return result;
    }
  } catch (error) {
    if (controller.signal.aborted) {
      throw new FetchError(`no complete answer within ${options.timeoutMs} ms`, 'timeout');
    }
    if (error instanceof FetchError) throw error;
    const code = (error as { code?: string }).code;
    throw new FetchError(
      `could not fetch: ${code ?? (error instanceof Error ? error.message : String(error))}`,
      'network',
    );
  } finally {
    clearTimeout(timer);
    // Nothing of a finished fetch may stay open (a half-read error body, a redirect's body).
    controller.abort();
  }
}

function requestOnce(
  url: URL,
  options: FetchOptions & { allowPrivate: boolean },
  signal: AbortSignal,
): Promise<FetchResult | { redirect: string }> {
  const client = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = {
    accept: options.accept,
    'accept-encoding': 'identity',
    'user-agent': 'Herald feed reader',
  };
  if (options.etag) headers['if-none-match'] = options.etag;
  if (options.lastModified) headers['if-modified-since'] = options.lastModified;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      { method: 'GET', headers, signal, agent: false, lookup: guardedLookup(options.allowPrivate) },
      (response) => {
        const status = response.statusCode ?? 0;
        const header = (name: string) => {
          const value = response.headers[name];
          return typeof value === 'string' ? value : null;
        };
        if (status >= 300 && status < 400 && status !== 304) {
          // Destroy, never drain: a body we do not read must not keep arriving past the limits.
          response.destroy();
          const location = header('location');
          if (!location)
            reject(new FetchError(`HTTP ${status} without a Location`, 'http', status));
          else resolve({ redirect: location });
          return;
        }
        if (status === 304) {
          // Destroy, never drain: a body we do not read must not keep arriving past the limits.
          response.destroy();
          resolve({
            url: url.toString(),
            notModified: true,
            body: Buffer.alloc(0),
            contentType: null,
            etag: header('etag') ?? options.etag ?? null,
            lastModified: header('last-modified') ?? options.lastModified ?? null,
          });
          return;
        }
        if (status < 200 || status >= 300) {
          // Destroy, never drain: a body we do not read must not keep arriving past the limits.
          response.destroy();
          reject(new FetchError(`HTTP ${status}`, 'http', status));
          return;
        }
        const tooLarge = () =>
          new FetchError(`the answer is larger than ${options.maxBytes} bytes`, 'too-large');
        const declared = Number(header('content-length') ?? Number.NaN);
        if (declared > options.maxBytes) {
          response.destroy();
          reject(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            response.destroy();
            reject(tooLarge());
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            url: url.toString(),
            notModified: false,
            body: Buffer.concat(chunks),
            contentType: header('content-type'),
            etag: header('etag'),
            lastModified: header('last-modified'),
          }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}
