// Console users: scrypt hashes (never the password, verified in constant time, parameters in
// the string), the repository on both dialects (lower-cased unique email, one-time 24 h
// set-password token, disable), GET /api/users (admin key, keyset paging, zod errors), the
// /console/users page (admin only; create shows the link once; disable ends the sessions), and
// `herald users create|list|disable` through the built bin.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { usersDb } from '../src/store/schema-users.ts';
import { hashPassword, verifyPassword } from '../src/users/passwords.ts';
import {
  createUser,
  disableUser,
  findUserForSignIn,
  issueSetPasswordToken,
  listUsers,
  setPasswordWithToken,
  userOfSetPasswordToken,
} from '../src/users/repository.ts';
import { createConsoleUser, postLogin, signIn } from './helpers/console.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const run = promisify(execFile);

describe('password hashes', () => {
  it('never equal the password, verify it, refuse others, and carry their parameters', async () => {
    const password = 'correct horse battery staple';
    const hash = await hashPassword(password);
    expect(hash).not.toContain(password);
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword(password, hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
    // A fresh salt each time: the same password never hashes alike.
    expect(await hashPassword(password)).not.toBe(hash);
    // Malformed or tampered hashes are a plain "no", never a throw or a huge scrypt.
    for (const bad of [
      '',
      'scrypt$1$1$1$x$y',
      hash.replace('$32768$', '$1073741824$'),
      'bcrypt$x',
    ]) {
      expect(await verifyPassword(password, bad)).toBe(false);
    }
  });

  it('refuse a password outside 12..1024 characters, naming the field', async () => {
    await expect(hashPassword('short')).rejects.toMatchObject({ field: 'password' });
    await expect(hashPassword('x'.repeat(1025))).rejects.toMatchObject({ field: 'password' });
    expect(await hashPassword('x'.repeat(1024))).toMatch(/^scrypt\$/);
  });
});

describe.each(DIALECTS)('users repository (%s)', (dialect) => {
  let app: App;
  let dispose: () => Promise<void>;
  let dataDir: string;

  beforeAll(async () => {
    const target = await createTestTarget(dialect);
    dispose = target.dispose;
    dataDir = mkdtempSync(join(tmpdir(), 'herald-users-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('users'),
        LOG_LEVEL: 'silent',
      }),
    );
  });
  afterAll(async () => {
    await app?.close();
    await dispose?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps one lower-cased account per address and stores only the hash', async () => {
    const created = await createUser(app.store.db, {
      email: ' Nadia.Editor@Example.ORG ',
      role: 'editor',
      password: 'a long enough password',
    });
    expect(created.user).toMatchObject({ email: 'nadia.editor@example.org', hasPassword: true });
    expect(created.setPasswordToken).toBeNull();
    await expect(
      createUser(app.store.db, { email: 'NADIA.editor@example.org', role: 'ops' }),
    ).rejects.toMatchObject({ kind: 'conflict', field: 'email' });
    await expect(
      createUser(app.store.db, { email: 'not-an-address', role: 'ops' }),
    ).rejects.toMatchObject({ kind: 'invalid', field: 'email' });
    await expect(
      createUser(app.store.db, { email: 'x@example.org', role: 'root' }),
    ).rejects.toMatchObject({ kind: 'invalid', field: 'role' });
    const rows = await usersDb(app.store.db).selectFrom('users').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain('a long enough password');
    const found = await findUserForSignIn(app.store.db, 'Nadia.Editor@example.org');
    expect(await verifyPassword('a long enough password', found!.passwordHash!)).toBe(true);
  });

  it('a set-password token works once, for 24 hours, and is stored hashed', async () => {
    const { user, setPasswordToken } = await createUser(app.store.db, {
      email: 'new.ops@example.org',
      role: 'ops',
    });
    expect(user.hasPassword).toBe(false);
    const token = setPasswordToken!;
    const stored = await usersDb(app.store.db)
      .selectFrom('user_password_tokens')
      .selectAll()
      .execute();
    expect(JSON.stringify(stored)).not.toContain(token);
    // Past its 24 hours the token opens nothing.
    const later = new Date(Date.now() + 24 * 3600_000 + 1000);
    expect(await userOfSetPasswordToken(app.store.db, token, later)).toBeNull();
    await expect(
      setPasswordWithToken(app.store.db, token, 'a fine new password', later),
    ).rejects.toMatchObject({ field: 'token' });
    // The policy is checked before the token is spent.
    await expect(setPasswordWithToken(app.store.db, token, 'short')).rejects.toMatchObject({
      field: 'password',
    });
    const set = await setPasswordWithToken(app.store.db, token, 'a fine new password');
    expect(set.hasPassword).toBe(true);
    await expect(
      setPasswordWithToken(app.store.db, token, 'another new password'),
    ).rejects.toMatchObject({ field: 'token' });
    const found = await findUserForSignIn(app.store.db, 'new.ops@example.org');
    expect(await verifyPassword('a fine new password', found!.passwordHash!)).toBe(true);
    expect(await verifyPassword('another new password', found!.passwordHash!)).toBe(false);
  });

  it('disables by email or id once, and a disabled user has no live token', async () => {
    const { user } = await createUser(app.store.db, {
      email: 'leaver@example.org',
      role: 'editor',
    });
    const token = await issueSetPasswordToken(app.store.db, user.id);
    const disabled = await disableUser(app.store.db, 'Leaver@example.org');
    expect(disabled.disabledAt).not.toBeNull();
    const again = await disableUser(app.store.db, String(user.id));
    expect(again.disabledAt).toBe(disabled.disabledAt);
    expect(await userOfSetPasswordToken(app.store.db, token)).toBeNull();
    await expect(disableUser(app.store.db, 'nobody@example.org')).rejects.toMatchObject({
      kind: 'not_found',
    });
    const listed = await listUsers(app.store.db, { limit: 10, after: null });
    expect(listed.map((u) => u.email)).toContain('leaver@example.org');
  });
});

describe.each(DIALECTS)('users over HTTP (%s)', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let dispose: () => Promise<void>;
  let dataDir: string;
  let adminKey: string;

  beforeAll(async () => {
    const target = await createTestTarget(dialect);
    dispose = target.dispose;
    dataDir = mkdtempSync(join(tmpdir(), 'herald-users-http-'));
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        HERALD_DATA_DIR: dataDir,
        QUEUE_PREFIX: uniqueName('usershttp'),
        PUBLIC_URL: 'https://news.example.org',
        LOG_LEVEL: 'silent',
      }),
    );
    server = await buildServer(app);
    await server.ready();
    adminKey = (await createApiKey(app.store.db, 'admin')).key;
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await dispose?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('GET /api/users pages newest first for an admin key, never a hash, and refuses bad input', async () => {
    for (let i = 0; i < 3; i++) await createConsoleUser(app, 'editor');
    const get = (url: string, key = adminKey) =>
      server.inject({ url, headers: { authorization: `Bearer ${key}` } });
    const first = await get('/api/users?limit=2');
    expect(first.statusCode).toBe(200);
    const body = first.json() as { items: Array<{ id: number }>; next: string; total: number };
    expect(body.items).toHaveLength(2);
    expect(body.total).toBeGreaterThanOrEqual(3);
    expect(first.body).not.toContain('scrypt');
    const second = (await get(`/api/users?limit=2&cursor=${body.next}`)).json() as {
      items: Array<{ id: number }>;
    };
    expect(second.items[0]!.id).toBeLessThan(body.items[1]!.id);
    const bad = await get('/api/users?limit=0&cursor=nope');
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toMatch(/limit|cursor/);
    const editorKey = (await createApiKey(app.store.db, 'editor')).key;
    expect((await get('/api/users', editorKey)).statusCode).toBe(403);
  });

  it('/console/users: admin creates (link shown once), disables (sessions end); others get 403', async () => {
    const admin = await signIn(server, 'admin');
    const page = await server.inject({ url: '/console/users', headers: { cookie: admin.cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Add a user');
    const editor = await signIn(server, 'editor');
    expect(
      (await server.inject({ url: '/console/users', headers: { cookie: editor.cookie } }))
        .statusCode,
    ).toBe(403);

    const post = (url: string, payload: Record<string, string>, who = admin) =>
      server.inject({ method: 'POST', url, headers: { cookie: who.cookie }, payload });
    const created = await post('/console/users', {
      _csrf: admin.csrf,
      email: 'Desk.Chief@example.org',
      role: 'editor',
    });
    expect(created.statusCode).toBe(201);
    const link =
      /https:\/\/news\.example\.org\/console\/set-password\?token=([A-Za-z0-9_-]{43})/.exec(
        created.body,
      );
    expect(link).not.toBeNull();
    // Shown once: the list page never shows it again.
    const after = await server.inject({ url: '/console/users', headers: { cookie: admin.cookie } });
    expect(after.body).toContain('desk.chief@example.org');
    expect(after.body).not.toContain(link![1]);
    // Bad input: the field named, 4xx, nothing stored.
    const count = async () =>
      (await usersDb(app.store.db).selectFrom('users').select('id').execute()).length;
    const before = await count();
    const bad = await post('/console/users', { _csrf: admin.csrf, email: 'nope', role: 'editor' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('email must be an email address');
    const taken = await post('/console/users', {
      _csrf: admin.csrf,
      email: 'desk.chief@example.org',
      role: 'ops',
    });
    expect(taken.statusCode).toBe(409);
    expect(await count()).toBe(before);
    // An editor cannot create users even with their own valid token.
    const refused = await post(
      '/console/users',
      { _csrf: editor.csrf, email: 'sneaky@example.org', role: 'admin' },
      editor,
    );
    expect(refused.statusCode).toBe(403);
    expect(await count()).toBe(before);

    // Disabling signs the user out at their next request.
    const victim = await signIn(server, 'editor');
    const victimId = (await findUserForSignIn(app.store.db, victim.email))!.id;
    const disabled = await post(`/console/users/${victimId}/disable`, { _csrf: admin.csrf });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.body).toContain('is disabled and signed out');
    const next = await server.inject({ url: '/console', headers: { cookie: victim.cookie } });
    expect(next.statusCode).toBe(303);
    expect(next.headers.location).toBe('/console/login');
    const again = await postLogin(server, victim);
    expect(again.statusCode).toBe(401);
    // No one disables themself.
    const adminId = (await findUserForSignIn(app.store.db, admin.email))!.id;
    expect(
      (await post(`/console/users/${adminId}/disable`, { _csrf: admin.csrf })).statusCode,
    ).toBe(409);
  });
});

describe('herald users (built bin, sqlite)', () => {
  let env: NodeJS.ProcessEnv;
  let dispose: () => Promise<void>;
  let dataDir: string;

  beforeAll(async () => {
    const target = await createTestTarget('sqlite');
    dispose = target.dispose;
    dataDir = mkdtempSync(join(tmpdir(), 'herald-users-cli-'));
    env = {
      ...process.env,
      DATABASE_URL: target.databaseUrl,
      HERALD_DATA_DIR: dataDir,
      QUEUE_PREFIX: uniqueName('userscli'),
      PUBLIC_URL: 'https://news.example.org',
    };
    delete env.LOG_LEVEL;
  });
  afterAll(async () => {
    await dispose?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const herald = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run('node', ['bin/herald.js', ...args], { env });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    }
  };
  /** Runs the bin with `input` on stdin. */
  const heraldWithStdin = (input: string, ...args: string[]) =>
    new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
      const child = spawn('node', ['bin/herald.js', ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.on('close', (code) => resolve({ stdout, stderr, code }));
      child.stdin.end(input);
    });

  it('creates with a set-password link or a piped password, lists, disables', async () => {
    const invited = await herald(
      'users',
      'create',
      '--email',
      'Ann@Example.org',
      '--role',
      'admin',
      '--json',
    );
    expect(invited.code).toBe(0);
    expect(invited.stderr).toBe('');
    const made = JSON.parse(invited.stdout) as { email: string; setPasswordLink: string };
    expect(made.email).toBe('ann@example.org');
    expect(made.setPasswordLink).toMatch(
      /^https:\/\/news\.example\.org\/console\/set-password\?token=[A-Za-z0-9_-]{43}$/,
    );

    const piped = await heraldWithStdin(
      'a piped password here\n',
      'users',
      'create',
      '--email',
      'bob@example.org',
      '--role',
      'editor',
      '--password-stdin',
    );
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('user 2 bob@example.org (editor) created');
    expect(piped.stdout).not.toContain('a piped password here');
    expect(piped.stdout).not.toContain('set-password');

    const short = await heraldWithStdin(
      'too short\n',
      'users',
      'create',
      '--email',
      'c@example.org',
      '--role',
      'ops',
      '--password-stdin',
    );
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('the password must be at least 12 characters');
    const badRole = await herald('users', 'create', '--email', 'd@example.org', '--role', 'root');
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('--role must be one of editor, ops, admin');
    const dup = await herald('users', 'create', '--email', 'BOB@example.org', '--role', 'ops');
    expect(dup.code).toBe(4);

    const listed = await herald('users', 'list', '--json');
    const users = JSON.parse(listed.stdout) as Array<{ email: string; hasPassword: boolean }>;
    expect(users.map((u) => [u.email, u.hasPassword])).toEqual([
      ['ann@example.org', false],
      ['bob@example.org', true],
    ]);
    expect(listed.stdout).not.toContain('scrypt');

    const disabled = await herald('users', 'disable', 'bob@example.org', '--json');
    expect(disabled.code).toBe(0);
    expect(
      (JSON.parse(disabled.stdout) as { disabledAt: string | null }).disabledAt,
    ).not.toBeNull();
    const missing = await herald('users', 'disable', 'nobody@example.org');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no user nobody@example.org');
  });
});
