// The API key list behind GET /api/keys (admin) and the console's keys page: paged newest
// first, never the key nor its hash.
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
import type { ApiRole, Database } from '../store/schema.ts';
import { apiRoles } from './index.ts';

/** `role` filters exactly; `revoked`: include revoked keys (default: live keys only). */
export const keyListQuerySchema = z.object({
  role: z.enum(apiRoles, { message: `role must be one of ${apiRoles.join(', ')}` }).optional(),
  revoked: z
    .enum(['true', 'false'], { message: 'revoked must be true or false' })
    .transform((value) => value === 'true')
    .optional(),
  limit: limitSchema,
  cursor: cursorSchema.optional(),
});

export type KeyListQuery = z.output<typeof keyListQuerySchema>;

/** What a key list shows of each key. */
export interface KeyListItem {
  id: number;
  role: ApiRole;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** The response item shape, for the OpenAPI document. */
export const keyListItemSchema = z.object({
  id: z.number().int(),
  role: z.enum(apiRoles),
  label: z.string().nullable(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});

/** One page of keys, newest first, with the count of every key the filters match. */
export async function listKeys(
  db: Kysely<Database>,
  query: KeyListQuery,
): Promise<ListPage<KeyListItem>> {
  let filteredKeys = db.selectFrom('api_keys');
  if (query.role) filteredKeys = filteredKeys.where('role', '=', query.role);
  if (!query.revoked) filteredKeys = filteredKeys.where('revoked_at', 'is', null);
  let page = filteredKeys.select(['id', 'role', 'label', 'created_at', 'revoked_at']);
  if (query.cursor) page = page.where(afterRow(query.cursor, 'api_keys'));
  const rows = await page
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const counted = await filteredKeys
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return {
    ...toListPage(rows, query.limit, (row) => ({
      id: row.id,
      role: row.role,
      label: row.label,
      createdAt: row.created_at,
      revokedAt: row.revoked_at,
    })),
    total: countOf(counted.n),
  };
}
