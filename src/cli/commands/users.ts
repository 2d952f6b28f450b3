// `herald users create|list|disable`: named console accounts (issue 14).
import type { Command } from 'commander';
import { z } from 'zod';
import {
  createUser,
  disableUser,
  listUsers,
  setPasswordLink,
  userRoles,
} from '../../users/repository.ts';
import { printJson, UserError, withApp } from '../context.ts';
import { pagedListOptions, printList, toPage } from '../paging.ts';

const createOptions = z.object({
  email: z.string({ message: '--email is required' }).min(1, '--email is required'),
  role: z.enum(userRoles, { message: `--role must be one of ${userRoles.join(', ')}` }),
  passwordStdin: z.boolean().optional(),
  json: z.boolean().optional(),
});

/** More than any allowed password (1024 characters of up to 4 bytes) plus a newline. */
const STDIN_LIMIT = 8 * 1024;

/** The password piped on stdin: the first line, without its line ending; bounded. */
async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > STDIN_LIMIT) throw new UserError('--password-stdin: the input is too long');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new UserError('--password-stdin: no password on stdin');
  return line;
}

export function register(program: Command): void {
  const users = program.command('users').description('console user accounts');
  users
    .command('create')
    .description('create a user; without --password-stdin prints a one-time set-password link')
    .requiredOption('--email <email>', 'the address the user signs in with')
    .requiredOption('--role <role>', 'editor, ops or admin')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const parsed = createOptions.safeParse(raw);
      if (!parsed.success) throw new UserError(parsed.error.issues[0]!.message);
      const options = parsed.data;
      const password = options.passwordStdin ? await readPasswordFromStdin() : undefined;
      await withApp(async (app) => {
        const created = await createUser(app.store.db, {
          email: options.email,
          role: options.role,
          ...(password === undefined ? {} : { password }),
        });
        const link = created.setPasswordToken
          ? setPasswordLink(app.config.PUBLIC_URL, created.setPasswordToken)
          : null;
        if (options.json) printJson({ ...created.user, setPasswordLink: link });
        else
          process.stdout.write(
            `user ${created.user.id} ${created.user.email} (${created.user.role}) created\n${
              link ? `set-password link (shown once, works for 24 h):\n${link}\n` : ''
            }`,
          );
      });
    });
  pagedListOptions(
    users.command('list').description('users with role, status and last sign-in'),
  ).action(async (options: { limit?: string; cursor?: string; json?: boolean }) => {
    await withApp((app) =>
      printList(
        options,
        async (page) => toPage(await listUsers(app.store.db, page), page.limit, (u) => u.id),
        (u) =>
          `${u.id}  ${u.role.padEnd(6)}  ${u.disabledAt ? `disabled ${u.disabledAt}` : u.hasPassword ? 'active' : 'no password yet'}  ${u.email}`,
      ),
    );
  });
  users
    .command('disable <emailOrId>')
    .description('disable a user by email or id; their sessions end at their next request')
    .option('--json', 'print JSON')
    .action(async (emailOrId: string, options: { json?: boolean }) => {
      await withApp(async (app) => {
        const user = await disableUser(app.store.db, emailOrId);
        if (options.json) printJson(user);
        else process.stdout.write(`user ${user.id} ${user.email} disabled (${user.disabledAt})\n`);
      });
    });
}
