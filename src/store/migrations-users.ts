// Migration 0011: named console accounts (issue 14). A user signs in with an email and a
// password; a set-password token (stored as its sha256, one use, 24 h) lets a new user choose
// one. Kept in its own file so the main migration list only spreads it in.
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { DatabaseTarget } from '../config/index.ts';

type Db = Kysely<unknown>;

export function usersMigrations(dialect: DatabaseTarget['dialect']): Record<string, Migration> {
  const idType = dialect === 'postgres' ? 'serial' : 'integer';
  const idConstraints = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
  return {
    '0011_users': {
      async up(db: Db) {
        await db.schema
          .createTable('users')
          .addColumn('id', idType, idConstraints)
          // Lower-cased on the way in (src/users/repository.ts): one account per address.
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('role', 'text', (c) => c.notNull())
          // scrypt$N$r$p$salt$hash (src/users/passwords.ts); null until the user sets one.
          .addColumn('password_hash', 'text')
          .addColumn('disabled_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_sign_in_at', 'text')
          .execute();
        await db.schema
          .createTable('user_password_tokens')
          // sha256 of the token; the token itself is shown once, in the link.
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) =>
            c.notNull().references('users.id').onDelete('cascade'),
          )
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('user_password_tokens_user')
          .on('user_password_tokens')
          .column('user_id')
          .execute();
      },
    },
  };
}
