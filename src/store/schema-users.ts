// Table shapes added by migration 0011 (console users). Kept apart from schema.ts; `usersDb`
// widens a store handle to see them.
import type { Generated, Kysely, Transaction } from 'kysely';
import type { ApiRole, Database } from './schema.ts';

/** A console user's role: the same three as API keys (admin passes every role check). */
export type UserRole = ApiRole;

export interface UserTable {
  id: Generated<number>;
  /** Lower-cased address, unique. */
  email: string;
  role: UserRole;
  /** scrypt hash string with its parameters; null: no password set yet. */
  password_hash: string | null;
  disabled_at: string | null;
  created_at: string;
  last_sign_in_at: string | null;
}

export interface UserPasswordTokenTable {
  /** sha256 (hex) of the one-time token. */
  token_hash: string;
  user_id: number;
  expires_at: string;
  used_at: string | null;
  created_at: string;
}

export interface UsersDatabase extends Database {
  users: UserTable;
  user_password_tokens: UserPasswordTokenTable;
}

/** The same store handle, typed to see the users tables too. */
export function usersDb(db: Kysely<Database> | Transaction<Database>): Kysely<UsersDatabase> {
  return db as unknown as Kysely<UsersDatabase>;
}
