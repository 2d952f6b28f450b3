// Signed link tokens: HMAC-SHA256 (HERALD_SECRET) over purpose + payload (+ expiry), URL-safe.
// Links carry these, never raw ids or email addresses. A token also carries its subscriber's
// random key (subscribers.token_key), checked against the store by `./subject.ts`: knowing the
// secret is then not enough to mint a link for a subscriber id one has never been sent.
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, MIN_SECRET_BYTES } from '../config/index.ts';

export const tokenPurposes = [
  'unsubscribe',
  'preferences',
  'confirm',
  'bounce',
  'click',
  'open',
] as const;
export type TokenPurpose = (typeof tokenPurposes)[number];

/** A subscriber's token key: 8 random bytes as 16 lowercase hex digits (see migration 0004). */
const SUBSCRIBER_KEY = /^[0-9a-f]{16}$/;
export const subscriberKeySchema = z.string().regex(SUBSCRIBER_KEY);

export interface TokenClaims {
  subscriberId: number;
  campaignId?: number;
  /** Expiry instant (confirmation links). */
  expiresAt?: Date;
  /** The subscriber's token key; absent only in tokens minted before keys existed. */
  subscriberKey?: string;
  /** Which link of the campaign (click tracking: the index into its stored link list). */
  linkIndex?: number;
}

/**
 * 96 bits of the HMAC: forging one takes ~2^96 online guesses, and the token stays short
 * enough that a VERP address `bounces+TOKEN@domain` keeps its local part within RFC 5321's
 * 64 characters even for ids in the millions (hence a packed binary payload, not JSON).
 */
const MAC_BYTES = 12;
const KEY_BYTES = 8;
const VERSION = 1;
const HAS_CAMPAIGN = 1;
const HAS_EXPIRY = 2;
const HAS_KEY = 4;
const HAS_LINK = 8;

function assertSecret(secret: string): void {
  // Signing with an empty or short key would mint links anyone can forge: fail loudly instead.
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError(
      `Invalid HERALD_SECRET: is required for link tokens (at least ${MIN_SECRET_BYTES} bytes)`,
      'HERALD_SECRET',
    );
  }
}

/** The last secret's key object: a string key is converted again on every createHmac. */
let lastKey: { secret: string; key: KeyObject } | undefined;

function mac(secret: string, purpose: TokenPurpose, body: string): Buffer {
  if (lastKey?.secret !== secret) lastKey = { secret, key: createSecretKey(secret, 'utf8') };
  return createHmac('sha256', lastKey.key)
    .update(`${purpose}.${body}`)
    .digest()
    .subarray(0, MAC_BYTES);
}

function pushVarint(out: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** Reads an unsigned varint at `at`; null when it runs past the end or beyond 2^53. */
function readVarint(bytes: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 8; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    scale *= 0x80;
  }
  return null;
}

function encodePayload(claims: TokenClaims): Buffer {
  const out: number[] = [VERSION, 0];
  let flags = 0;
  pushVarint(out, claims.subscriberId);
  if (claims.campaignId !== undefined) {
    flags |= HAS_CAMPAIGN;
    pushVarint(out, claims.campaignId);
  }
  if (claims.expiresAt) {
    flags |= HAS_EXPIRY;
    pushVarint(out, Math.floor(claims.expiresAt.getTime() / 1000));
  }
  if (claims.subscriberKey !== undefined) {
    flags |= HAS_KEY;
    // A plain test, not the schema's parse: this runs three times per message sent.
    if (!SUBSCRIBER_KEY.test(claims.subscriberKey))
      throw new Error('a subscriber key is 16 lowercase hex digits');
    out.push(...Buffer.from(claims.subscriberKey, 'hex'));
  }
  if (claims.linkIndex !== undefined) {
    flags |= HAS_LINK;
    pushVarint(out, claims.linkIndex);
  }
  out[1] = flags;
  return Buffer.from(out);
}

function decodePayload(bytes: Buffer): TokenClaims | null {
  if (bytes.length < 3 || bytes[0] !== VERSION) return null;
  const flags = bytes[1]!;
  if (flags & ~(HAS_CAMPAIGN | HAS_EXPIRY | HAS_KEY | HAS_LINK)) return null;
  const subscriber = readVarint(bytes, 2);
  if (!subscriber || subscriber.value < 1) return null;
  const claims: TokenClaims = { subscriberId: subscriber.value };
  let at = subscriber.next;
  if (flags & HAS_CAMPAIGN) {
    const campaign = readVarint(bytes, at);
    if (!campaign || campaign.value < 1) return null;
    claims.campaignId = campaign.value;
    at = campaign.next;
  }
  if (flags & HAS_EXPIRY) {
    const expiry = readVarint(bytes, at);
    if (!expiry) return null;
    claims.expiresAt = new Date(expiry.value * 1000);
    at = expiry.next;
  }
  if (flags & HAS_KEY) {
    if (bytes.length < at + KEY_BYTES) return null;
    claims.subscriberKey = bytes.subarray(at, at + KEY_BYTES).toString('hex');
    at += KEY_BYTES;
  }
  if (flags & HAS_LINK) {
    const link = readVarint(bytes, at);
    if (!link) return null;
    claims.linkIndex = link.value;
    at = link.next;
  }
  return at === bytes.length ? claims : null;
}

/** Tokens signed before keys existed: JSON `{s, c?, e?}` (still found in mails already sent). */
const legacyPayloadSchema = z.object({
  s: z.number().int().positive(),
  c: z.number().int().positive().optional(),
  e: z.number().int().positive().optional(),
});

function decodeLegacyPayload(bytes: Buffer): TokenClaims | null {
  try {
    const parsed = legacyPayloadSchema.parse(JSON.parse(bytes.toString('utf8')));
    return {
      subscriberId: parsed.s,
      campaignId: parsed.c,
      expiresAt: parsed.e !== undefined ? new Date(parsed.e * 1000) : undefined,
    };
  } catch {
    return null;
  }
}

/** Signs claims for one purpose; the token is `base64url(payload).base64url(mac)`. */
export function signToken(secret: string, purpose: TokenPurpose, claims: TokenClaims): string {
  assertSecret(secret);
  const body = encodePayload(claims).toString('base64url');
  return `${body}.${mac(secret, purpose, body).toString('base64url')}`;
}

export type VerifyResult =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/**
 * Checks a token's signature for one purpose in constant time (a token for another purpose
 * fails) and its expiry. Whether its key matches the subscriber is `./subject.ts`'s business.
 */
export function verifyToken(
  secret: string,
  purpose: TokenPurpose,
  token: string,
  now: Date = new Date(),
): VerifyResult {
  // No usable key (a process built without HERALD_SECRET): nothing verifies.
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) return { ok: false, reason: 'bad-signature' };
  const parts = token.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return { ok: false, reason: 'malformed' };
  const [body, signature] = parts as [string, string];
  const expected = mac(secret, purpose, body);
  const given = Buffer.from(signature, 'base64url');
  // base64url decoding ignores stray characters: re-encode so any altered character fails.
  if (
    given.length !== expected.length ||
    given.toString('base64url') !== signature ||
    !timingSafeEqual(given, expected)
  ) {
    return { ok: false, reason: 'bad-signature' };
  }
  const bytes = Buffer.from(body, 'base64url');
  const claims = body.startsWith('eyJ') ? decodeLegacyPayload(bytes) : decodePayload(bytes);
  if (!claims) return { ok: false, reason: 'malformed' };
  if (claims.expiresAt && claims.expiresAt.getTime() < now.getTime())
    return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}
