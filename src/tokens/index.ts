// Signed link tokens: HMAC-SHA256 (HERALD_SECRET) over purpose + payload (+ expiry), URL-safe.
// Links carry these, never raw ids or email addresses.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export const tokenPurposes = ['unsubscribe', 'preferences', 'confirm', 'bounce'] as const;
export type TokenPurpose = (typeof tokenPurposes)[number];

const payloadSchema = z.object({
  /** Subscriber id. */
  s: z.number().int().positive(),
  /** Campaign id, when the link belongs to one message. */
  c: z.number().int().positive().optional(),
  /** Expiry, seconds since the epoch. */
  e: z.number().int().positive().optional(),
});

export type TokenPayload = z.infer<typeof payloadSchema>;

export interface TokenClaims {
  subscriberId: number;
  campaignId?: number;
  /** Expiry instant (confirmation links). */
  expiresAt?: Date;
}

/**
 * 96 bits of the HMAC: forging one takes ~2^96 online guesses, and the token stays short
 * enough that a VERP address `bounces+TOKEN@domain` keeps its local part within RFC 5321's
 * 64 characters even for ids in the millions.
 */
const MAC_BYTES = 12;

function mac(secret: string, purpose: TokenPurpose, body: string): Buffer {
  return createHmac('sha256', secret).update(`${purpose}.${body}`).digest().subarray(0, MAC_BYTES);
}

/** Signs claims for one purpose; the token is `base64url(payload).base64url(mac)`. */
export function signToken(secret: string, purpose: TokenPurpose, claims: TokenClaims): string {
  const payload: TokenPayload = { s: claims.subscriberId };
  if (claims.campaignId !== undefined) payload.c = claims.campaignId;
  if (claims.expiresAt) payload.e = Math.floor(claims.expiresAt.getTime() / 1000);
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(secret, purpose, body).toString('base64url')}`;
}

export type VerifyResult =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/** Checks a token for one purpose in constant time; a token for another purpose fails. */
export function verifyToken(
  secret: string,
  purpose: TokenPurpose,
  token: string,
  now: Date = new Date(),
): VerifyResult {
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
  let parsed: TokenPayload;
  try {
    parsed = payloadSchema.parse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (parsed.e !== undefined && parsed.e * 1000 < now.getTime())
    return { ok: false, reason: 'expired' };
  return {
    ok: true,
    claims: {
      subscriberId: parsed.s,
      campaignId: parsed.c,
      expiresAt: parsed.e !== undefined ? new Date(parsed.e * 1000) : undefined,
    },
  };
}
