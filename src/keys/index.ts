// API keys and their roles, in the store. A key is shown once; the store keeps its sha256.
// admin may do anything. Used by the HTTP layer (src/http/auth.ts) and `herald keys`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApiRole, Database } from '../store/schema.ts';

export const apiRoles = ['editor', 'ops', 'admin'] as const satisfies readonly ApiRole[];

/** The sha256 the store keeps of a key (and console sessions keep in Redis). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Creates a key with a role; returns the key (shown once) and its id. */
export async function createApiKey(
  db: Kysely<Database>,
  role: ApiRole,
  label: string | null = null,
): Promise<{ id: number; key: string; role: ApiRole }> {
  const key = `hk_${role}_${randomBytes(24).toString('base64url')}`;
  const row = await db
    .insertInto('api_keys')
    .values({ key_hash: hashKey(key), role, label, created_at: new Date().toISOString() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, key, role };
}

/** Revokes a key by id; returns whether a live key was revoked. */
export async function revokeApiKey(db: Kysely<Database>, id: number): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date().toISOString() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** The role of a live key, or null. */
export async function roleOfKey(db: Kysely<Database>, key: string): Promise<ApiRole | null> {
  return roleOfKeyHash(db, hashKey(key));
}

/** The role of the live key with that sha256, or null (console sessions keep only the hash). */
export async function roleOfKeyHash(db: Kysely<Database>, hash: string): Promise<ApiRole | null> {
  const row = await db
    .selectFrom('api_keys')
    .select(['key_hash', 'role'])
    .where('key_hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  // The lookup is by hash already; compare again in constant time for good measure.
  if (!row || !timingSafeEqual(Buffer.from(row.key_hash), Buffer.from(hash))) return null;
  return row.role;
}
