// Console users in the store: create, find, list, disable, and the one-time set-password
// token. Emails are kept lower-cased (one account per address, whatever its case); passwords
// only as scrypt hashes (./passwords.ts); tokens only as their sha256.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { conflict, invalid, notFound } from '../errors/index.ts';
import type { Database } from '../store/schema.ts';
import { type UserRole, usersDb } from '../store/schema-users.ts';
import { hashPassword } from './passwords.ts';

export const userRoles = ['editor', 'ops', 'admin'] as const satisfies readonly UserRole[];

/** How long a set-password link works. */
export const SET_PASSWORD_TOKEN_HOURS = 24;

export interface User {
  id: number;
  email: string;
  role: UserRole;
  hasPassword: boolean;
  disabledAt: string | null;
  createdAt: string;
  lastSignInAt: string | null;
}

/** A user with the stored hash, for sign-in only (never printed or sent). */
export interface UserWithHash extends User {
  passwordHash: string | null;
}

const emailSchema = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an email address like name@example.org'));

/** The stored form of an address: trimmed and lower-cased; throws InputError('email'). */
export function normaliseUserEmail(email: string): string {
  const parsed = emailSchema.safeParse(email);
  if (!parsed.success) throw invalid('email', `email ${parsed.error.issues[0]!.message}`);
  return parsed.data.toLowerCase();
}

type UserRow = {
  id: number;
  email: string;
  role: UserRole;
  password_hash: string | null;
  disabled_at: string | null;
  created_at: string;
  last_sign_in_at: string | null;
};

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    hasPassword: row.password_hash !== null,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
    lastSignInAt: row.last_sign_in_at,
  };
}

const USER_COLUMNS = [
  'id',
  'email',
  'role',
  'password_hash',
  'disabled_at',
  'created_at',
  'last_sign_in_at',
] as const;

/** The link a new user opens to choose a password (PUBLIC_URL/console/set-password?token=…). */
export function setPasswordLink(publicUrl: string, token: string): string {
  return new URL(`/console/set-password?token=${encodeURIComponent(token)}`, publicUrl).toString();
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Issues a one-time set-password token for a user (24 h); returns the token (shown once). */
export async function issueSetPasswordToken(
  db: Kysely<Database>,
  userId: number,
  now = new Date(),
): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await usersDb(db)
    .insertInto('user_password_tokens')
    .values({
      token_hash: hashToken(token),
      user_id: userId,
      expires_at: new Date(now.getTime() + SET_PASSWORD_TOKEN_HOURS * 3600_000).toISOString(),
      used_at: null,
      created_at: now.toISOString(),
    })
    .execute();
  return token;
}

/**
 * Creates a user. With a password, it is hashed (policy checked first); without one, a
 * set-password token is issued and returned. Throws InputError for a bad email or role, or a
 * taken address (conflict).
 */
export async function createUser(
  db: Kysely<Database>,
  input: { email: string; role: string; password?: string },
): Promise<{ user: User; setPasswordToken: string | null }> {
  const email = normaliseUserEmail(input.email);
  const role = z.enum(userRoles).safeParse(input.role);
  if (!role.success) throw invalid('role', `role must be one of ${userRoles.join(', ')}`);
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const users = usersDb(db);
  const taken = await users
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirst();
  if (taken) throw conflict('email', `a user with the email ${email} exists already`);
  const row = await users
    .insertInto('users')
    .values({
      email,
      role: role.data,
      password_hash: passwordHash,
      disabled_at: null,
      created_at: new Date().toISOString(),
      last_sign_in_at: null,
    })
    .returning(USER_COLUMNS)
    .executeTakeFirstOrThrow();
  const setPasswordToken = passwordHash === null ? await issueSetPasswordToken(db, row.id) : null;
  return { user: toUser(row), setPasswordToken };
}

/** The user with this (any-case) email, with the stored hash; null when none. */
export async function findUserForSignIn(
  db: Kysely<Database>,
  email: string,
): Promise<UserWithHash | null> {
  let normal: string;
  try {
    normal = normaliseUserEmail(email);
  } catch {
    return null;
  }
  const row = await usersDb(db)
    .selectFrom('users')
    .select(USER_COLUMNS)
    .where('email', '=', normal)
    .executeTakeFirst();
  return row ? { ...toUser(row), passwordHash: row.password_hash } : null;
}

export async function findUserById(db: Kysely<Database>, id: number): Promise<User | null> {
  const row = await usersDb(db)
    .selectFrom('users')
    .select(USER_COLUMNS)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toUser(row) : null;
}

/** A page of users by id: at most `limit + 1` rows after `after` (the extra one says "more"). */
export async function listUsers(
  db: Kysely<Database>,
  page: { limit: number; after: number | null },
): Promise<User[]> {
  let query = usersDb(db).selectFrom('users').select(USER_COLUMNS);
  if (page.after !== null) query = query.where('id', '>', page.after);
  const rows = await query
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  return rows.map(toUser);
}

/** How many users there are (for the list's true total). */
export async function countUsers(db: Kysely<Database>): Promise<number> {
  const row = await usersDb(db)
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Disables a user by email or id (sessions end at their next request: the guard reads
 * disabled_at). Returns the user; disabling twice keeps the first instant. Throws not_found.
 */
export async function disableUser(db: Kysely<Database>, emailOrId: string | number): Promise<User> {
  const users = usersDb(db);
  const byId = typeof emailOrId === 'number' || /^[1-9][0-9]{0,9}$/.test(emailOrId);
  const found = byId
    ? await findUserById(db, Number(emailOrId))
    : await findUserForSignIn(db, String(emailOrId));
  if (!found) throw notFound('user', `no user ${emailOrId}`);
  if (!found.disabledAt) {
    await users
      .updateTable('users')
      .set({ disabled_at: new Date().toISOString() })
      .where('id', '=', found.id)
      .where('disabled_at', 'is', null)
      .execute();
  }
  return (await findUserById(db, found.id))!;
}

/** Records a successful sign-in. */
export async function recordSignIn(db: Kysely<Database>, userId: number): Promise<void> {
  await usersDb(db)
    .updateTable('users')
    .set({ last_sign_in_at: new Date().toISOString() })
    .where('id', '=', userId)
    .execute();
}

/** The live user a set-password token is for (unused, unexpired, user not disabled), or null. */
export async function userOfSetPasswordToken(
  db: Kysely<Database>,
  token: string,
  now = new Date(),
): Promise<User | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const row = await usersDb(db)
    .selectFrom('user_password_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select(['t.user_id', 't.expires_at', 't.used_at', 'u.disabled_at'])
    .where('t.token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row || row.used_at || row.disabled_at || row.expires_at <= now.toISOString()) return null;
  return findUserById(db, row.user_id);
}

/**
 * Sets a user's password with a set-password token, once: the token is marked used in the
 * same statement that checks it, so two posts of one link cannot both succeed. Throws
 * InputError('password') for the policy, ('token') for a used, expired or unknown token.
 */
export async function setPasswordWithToken(
  db: Kysely<Database>,
  token: string,
  password: string,
  now = new Date(),
): Promise<User> {
  const hash = await hashPassword(password);
  const user = await userOfSetPasswordToken(db, token, now);
  if (!user)
    throw invalid('token', 'this link is used, expired or unknown: ask an admin for a new one');
  return usersDb(db)
    .transaction()
    .execute(async (trx) => {
      const claimed = await trx
        .updateTable('user_password_tokens')
        .set({ used_at: now.toISOString() })
        .where('token_hash', '=', hashToken(token))
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1)
        throw invalid('token', 'this link is used, expired or unknown: ask an admin for a new one');
      await trx
        .updateTable('users')
        .set({ password_hash: hash })
        .where('id', '=', user.id)
        .execute();
      return { ...user, hasPassword: true };
    });
}
