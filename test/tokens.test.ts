import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signToken, verifyToken } from '../src/tokens/index.ts';

const SECRET = 'tokens-test-secret-0123456789-abcdef';

describe('link tokens', () => {
  it('round-trips subscriber, campaign and expiry for its purpose', () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const token = signToken(SECRET, 'confirm', { subscriberId: 42, campaignId: 7, expiresAt });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const result = verifyToken(SECRET, 'confirm', token);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.claims.subscriberId).toBe(42);
      expect(result.claims.campaignId).toBe(7);
      expect(result.claims.expiresAt?.getTime()).toBe(
        Math.floor(expiresAt.getTime() / 1000) * 1000,
      );
    }
  });

  it('rejects a token altered in any one character', () => {
    const token = signToken(SECRET, 'unsubscribe', { subscriberId: 42, campaignId: 7 });
    for (let i = 0; i < token.length; i++) {
      const replacement = token[i] === 'A' ? 'B' : 'A';
      const altered = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(verifyToken(SECRET, 'unsubscribe', altered).ok, `position ${i}`).toBe(false);
    }
  });

  it('rejects a token made for another purpose, another secret, or past its expiry', () => {
    const token = signToken(SECRET, 'preferences', { subscriberId: 1 });
    expect(verifyToken(SECRET, 'unsubscribe', token)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyToken('another-tokens-secret-0123456789-xyz', 'preferences', token).ok).toBe(
      false,
    );
    const expired = signToken(SECRET, 'confirm', {
      subscriberId: 1,
      expiresAt: new Date(Date.now() - 2_000),
    });
    expect(verifyToken(SECRET, 'confirm', expired)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(SECRET, 'confirm', 'not-a-token').ok).toBe(false);
  });

  it('keeps a VERP bounce address within 64 characters of local part', () => {
    const token = signToken(SECRET, 'bounce', { subscriberId: 9_999_999, campaignId: 9_999_999 });
    expect(`bounces+${token}`.length).toBeLessThanOrEqual(64);
  });
});

describe('packed token payloads', () => {
  it('round-trip every claim, and refuse unknown flags or trailing bytes even when signed', () => {
    const expiresAt = new Date(Math.floor(Date.now() / 1000 + 3600) * 1000);
    const claims = {
      subscriberId: 123_456,
      campaignId: 77,
      expiresAt,
      subscriberKey: '00ff00ff00ff00ff',
    };
    const token = signToken(SECRET, 'confirm', claims);
    expect(verifyToken(SECRET, 'confirm', token)).toEqual({ ok: true, claims });
    const resign = (bytes: Buffer) => {
      const body = bytes.toString('base64url');
      const mac = createHmac('sha256', SECRET).update(`confirm.${body}`).digest().subarray(0, 12);
      return `${body}.${mac.toString('base64url')}`;
    };
    const body = Buffer.from(token.split('.')[0]!, 'base64url');
    const unknownFlag = Buffer.from(body);
    unknownFlag[1] = unknownFlag[1]! | 0x80;
    expect(verifyToken(SECRET, 'confirm', resign(unknownFlag))).toEqual({
      ok: false,
      reason: 'malformed',
    });
    const trailing = Buffer.concat([body, Buffer.from([1])]);
    expect(verifyToken(SECRET, 'confirm', resign(trailing))).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
