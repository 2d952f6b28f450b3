// Password hashing with node:crypto scrypt. The hash string carries its own parameters
// (`scrypt$N$r$p$salt$hash`, base64url), so they can be raised later without breaking the
// hashes already stored; verification compares in constant time.
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { invalid } from '../errors/index.ts';

/** Password length bounds (characters): long enough to resist guessing, bounded for scrypt. */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 1024;

/** OWASP's scrypt floor is N=2^17,r=8,p=1; 2^15 with p=1 keeps a sign-in near 50 ms here. */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
/** Upper bounds on parameters read back from a stored hash (a tampered row must not stall us). */
const MAX_N = 2 ** 20;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Memory scrypt needs for these parameters, with headroom (node's default cap is 32 MB). */
function maxmemFor(N: number, r: number): number {
  return 128 * N * r * 2;
}

/** The policy: a password of 12 to 1024 characters; throws InputError('password') otherwise. */
export function checkPasswordPolicy(password: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN)
    throw invalid('password', `the password must be at least ${PASSWORD_MIN} characters long`);
  if (length > PASSWORD_MAX)
    throw invalid('password', `the password must be at most ${PASSWORD_MAX} characters long`);
}

/** Hashes a password (after the policy check) into a self-describing string. */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordPolicy(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password.normalize('NFC'), salt, {
    ...COST,
    maxmem: maxmemFor(COST.N, COST.r),
  });
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether `password` matches the stored hash; false for a malformed hash (never throws on one). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isSafeInteger) || N < 2 || N > MAX_N || r < 1 || r > 32 || p !== 1)
    return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (salt.length === 0 || expected.length !== KEY_LENGTH) return false;
  if ([...password].length > PASSWORD_MAX) return false;
  const key = await scryptAsync(password.normalize('NFC'), salt, {
    N,
    r,
    p,
    maxmem: maxmemFor(N, r),
  });
  return timingSafeEqual(key, expected);
}

/** A hash of a random password: checked against when the email is unknown, so both take as long. */
let decoyHash: Promise<string> | null = null;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(24).toString('base64url'));
  return decoyHash;
}
