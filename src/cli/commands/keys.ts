// `herald keys create|list|revoke`: API keys with roles.
import type { Command } from 'commander';
import { z } from 'zod';
import { apiRoles, createApiKey, revokeApiKey } from '../../keys/index.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { listApiKeys } from '../lists.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';

const createOptions = z.object({
  role: z.enum(apiRoles, { message: `--role must be one of ${apiRoles.join(', ')}` }),
  label: z.string().optional(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  const keys = program.command('keys').description('API keys for the editor and ops API');
  keys
    .command('create')
    .description('create a key; it is printed once and stored hashed')
    .requiredOption('--role <role>', 'editor, ops or admin')
    .option('--label <label>', 'who or what the key is for')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const parsed = createOptions.safeParse(raw);
      if (!parsed.success) throw new UserError(parsed.error.issues[0]!.message);
      const options = parsed.data;
      await withApp(async (app) => {
        const created = await createApiKey(app.store.db, options.role, options.label ?? null);
        if (options.json) printJson(created);
        else
          process.stdout.write(
            `${created.key}\n(role ${created.role}, id ${created.id}; shown once)\n`,
          );
      });
    });
  pagedListOptions(
    keys
      .command('list')
      .description('keys with role, label and when revoked (never the key itself)'),
  ).action(async (options: { limit?: string; cursor?: string; json?: boolean }) => {
    await withApp((app) =>
      printList(
        options,
        async (page) => toPage(await listApiKeys(app.store.db, page), page.limit, (k) => k.id),
        (k) =>
          `${k.id}  ${k.role.padEnd(6)}  ${k.revokedAt ? `revoked ${k.revokedAt}` : 'live'}${k.label ? `  ${k.label}` : ''}`,
      ),
    );
  });
  keys
    .command('revoke <id>')
    .description('revoke a key by id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const keyId = Number(id);
      if (!Number.isInteger(keyId) || keyId <= 0)
        throw new UserError('key id must be a positive whole number');
      await withApp(async (app) => {
        const revoked = await revokeApiKey(app.store.db, keyId);
        if (options.json) printJson({ id: keyId, revoked });
        else process.stdout.write(revoked ? `revoked key ${keyId}\n` : `no live key ${keyId}\n`);
        if (!revoked) process.exitCode = 1;
      });
    });
}
