// The user list behind GET /api/users (admin) and the console's users page: newest first,
// keyset-paged like every list (src/store/paging.ts), never a password hash.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  afterRow,
  countOf,
  cursorSchema,
  type ListPage,
  limitSchema,
  toListPage,
} from '../store/paging.ts';
import type { Database } from '../store/schema.ts';
import { type UserRole, usersDb } from '../store/schema-users.ts';
import { userRoles } from './repository.ts';

/** `role` filters exactly; `disabled`: include disabled users (default: active ones only). */
export const userListQuerySchema = z.object({
  role: z.enum(userRoles, { message: `role must be one of ${userRoles.join(', ')}` }).optional(),
  disabled: z
    .enum(['true', 'false'], { message: 'disabled must be true or false' })
    .transform((value) => value === 'true')
    .optional(),
  limit: limitSchema,
  cursor: cursorSchema.optional(),
});

export type UserListQuery = z.output<typeof userListQuerySchema>;

export interface UserListItem {
  id: number;
  email: string;
  role: UserRole;
  hasPassword: boolean;
  createdAt: string;
  lastSignInAt: string | null;
  disabledAt: string | null;
}

/** The response item shape, for the OpenAPI document. */
export const userListItemSchema = z.object({
  id: z.number().int(),
  email: z.string(),
  role: z.enum(userRoles),
  hasPassword: z.boolean(),
  createdAt: z.string(),
  lastSignInAt: z.string().nullable(),
  disabledAt: z.string().nullable(),
});

/** One page of users, newest first, with the count of every user the filters match. */
export async function listUserPage(
  db: Kysely<Database>,
  query: UserListQuery,
): Promise<ListPage<UserListItem>> {
  let filtered = usersDb(db).selectFrom('users');
  if (query.role) filtered = filtered.where('role', '=', query.role);
  if (!query.disabled) filtered = filtered.where('disabled_at', 'is', null);
  let page = filtered.select([
    'id',
    'email',
    'role',
    'password_hash',
    'created_at',
    'last_sign_in_at',
    'disabled_at',
  ]);
  if (query.cursor) page = page.where(afterRow(query.cursor, 'users'));
  const rows = await page
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const counted = await filtered.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return {
    ...toListPage(rows, query.limit, (row) => ({
      id: row.id,
      email: row.email,
      role: row.role,
      hasPassword: row.password_hash !== null,
      createdAt: row.created_at,
      lastSignInAt: row.last_sign_in_at,
      disabledAt: row.disabled_at,
    })),
    total: countOf(counted.n),
  };
}
