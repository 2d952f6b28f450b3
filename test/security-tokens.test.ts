// Fault 2 of issue 11 (forgeable link tokens), reproduced: no usable default HERALD_SECRET,
// servers refuse to start without one, the demo keeps its own, and a token names its
// subscriber only together with that subscriber's random key (so a leaked secret does not let
// anyone walk the sequential ids).
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.ts';
import { ConfigError, parseConfig, requireSecret } from '../src/config/index.ts';
import { openStore } from '../src/store/db.ts';
import { migrateTo, migrateToLatest } from '../src/store/migrations.ts';
import { upsertSubscriber } from '../src/subscribers/repository.ts';
import { signToken, verifyToken } from '../src/tokens/index.ts';
import { keptSecret } from '../src/tokens/secret.ts';
import { subscriberKeyOf, verifySubscriberToken } from '../src/tokens/subject.ts';
import { openTestServer } from './helpers/herald.ts';
import { insertTopics } from './helpers/rows.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const SECRET = 'security-tokens-secret-0123456789-abcdef';
/** The value src/config used to fall back to, public in the source. */
const OLD_DEFAULT = 'herald-development-secret-change-me';

function configError(env: Record<string, string>): ConfigError {
  try {
    requireSecret(parseConfig(env));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** Runs the CLI with HERALD_SECRET removed; resolves with its exit code and stderr. */
function heraldWithoutSecret(args: string[], dataDir: string) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HERALD_DATA_DIR: dataDir,
    DATABASE_URL: '',
    QUEUE_PREFIX: uniqueName('nosecret'),
    PORT: '0',
    LOG_LEVEL: 'warn',
  };
  delete env.HERALD_SECRET;
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('node', ['bin/herald.js', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    // A process that does not refuse keeps serving: stop it and let the assertion fail.
    const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('HERALD_SECRET', () => {
  it('has no usable default: unset, short or placeholder secrets are refused, naming the variable', () => {
    expect(parseConfig({}).HERALD_SECRET).toBe('');
    expect(configError({}).variable).toBe('HERALD_SECRET');
    expect(configError({}).message).toMatch(/^Invalid HERALD_SECRET: is required/);
    for (const bad of [
      'short-secret',
      OLD_DEFAULT,
      'change-me-to-a-long-random-string',
      'a'.repeat(40),
    ]) {
      const error = configError({ HERALD_SECRET: bad });
      expect(error.variable, bad).toBe('HERALD_SECRET');
      expect(error.message.split('\n'), bad).toHaveLength(1);
    }
    expect(requireSecret(parseConfig({ HERALD_SECRET: SECRET }))).toBe(SECRET);
    // Nothing verifies without a usable key, and nothing can be signed with one.
    const forged = signToken(OLD_DEFAULT, 'preferences', { subscriberId: 1 });
    expect(verifyToken('', 'preferences', forged).ok).toBe(false);
    expect(() => signToken('', 'preferences', { subscriberId: 1 })).toThrow(/HERALD_SECRET/);
  });

  it('`herald start` and `worker` without it exit 2 with one line naming it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-nosecret-'));
    try {
      // serve goes through the same serverConfig() as start.
      for (const command of ['start', 'worker']) {
        const { code, stderr } = await heraldWithoutSecret([command], dataDir);
        expect(code, command).toBe(2);
        const lines = stderr.trim().split('\n');
        expect(lines, command).toHaveLength(1);
        expect(lines[0], command).toMatch(/^herald: Invalid HERALD_SECRET: is required/);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('the demo keeps a generated secret in the data dir (mode 0600) and reuses it', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'herald-demo-secret-')), 'var');
    try {
      const first = keptSecret(dataDir);
      expect(Buffer.byteLength(first)).toBeGreaterThanOrEqual(32);
      expect(() => requireSecret(parseConfig({ HERALD_SECRET: first }))).not.toThrow();
      expect(statSync(join(dataDir, 'secret')).mode & 0o777).toBe(0o600);
      expect(keptSecret(dataDir)).toBe(first);
      const elsewhere = join(mkdtempSync(join(tmpdir(), 'herald-demo-secret-')), 'var');
      expect(keptSecret(elsewhere)).not.toBe(first);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps VERP local parts within 64 characters with the key, for ids in the millions', () => {
    const token = signToken(SECRET, 'bounce', {
      subscriberId: 99_999_999,
      campaignId: 99_999_999,
      subscriberKey: 'ffffffffffffffff',
    });
    expect(`bounces+${token}`.length).toBeLessThanOrEqual(64);
    expect(verifyToken(SECRET, 'bounce', token)).toMatchObject({
      ok: true,
      claims: { subscriberId: 99_999_999, subscriberKey: 'ffffffffffffffff' },
    });
  });
});

describe.each(DIALECTS)('token subjects on %s', (dialect) => {
  let app: App;
  let server: FastifyInstance;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ app, server, close } = await openTestServer(
      dialect,
      {
        QUEUE_PREFIX: uniqueName('sectok'),
        HERALD_SECRET: SECRET,
        PUBLIC_URL: 'https://news.example.org',
      },
      async (app) => {
        await insertTopics(app.store.db, [['economy', 'Economy']]);
      },
    ));
  });
  afterAll(async () => {
    await close?.();
  });

  it('a leaked secret does not let ids be walked: a token needs the subscriber key', async () => {
    const victims = [];
    for (const email of ['one@example.org', 'two@example.org', 'three@example.org']) {
      victims.push((await upsertSubscriber(app.store.db, { email, topics: ['economy'] })).id);
    }
    for (const id of victims) {
      const key = await subscriberKeyOf(app.store.db, id);
      expect(key).toMatch(/^[0-9a-f]{16}$/);
      const walked = [
        signToken(SECRET, 'preferences', { subscriberId: id }),
        signToken(SECRET, 'preferences', { subscriberId: id, subscriberKey: '0123456789abcdef' }),
      ];
      for (const token of walked) {
        const page = await server.inject({ method: 'GET', url: `/preferences?token=${token}` });
        expect(page.statusCode).toBe(400);
        expect(page.body).not.toContain('@example.org');
        const data = await server.inject({
          method: 'GET',
          url: `/preferences/data?token=${token}`,
        });
        expect(data.statusCode).toBe(400);
      }
      const confirm = signToken(SECRET, 'confirm', { subscriberId: id });
      expect(
        (await server.inject({ method: 'GET', url: `/confirm?token=${confirm}` })).statusCode,
      ).toBe(400);
      // The token Herald mails (with the key) works.
      const real = signToken(SECRET, 'preferences', { subscriberId: id, subscriberKey: key! });
      const page = await server.inject({ method: 'GET', url: `/preferences?token=${real}` });
      expect(page.statusCode).toBe(200);
    }
    // A key opens its own subscriber only.
    const key0 = (await subscriberKeyOf(app.store.db, victims[0]!))!;
    const swapped = signToken(SECRET, 'preferences', {
      subscriberId: victims[1]!,
      subscriberKey: key0,
    });
    expect((await verifySubscriberToken(app.store.db, SECRET, 'preferences', swapped)).ok).toBe(
      false,
    );
  });

  it('links in mails already sent (keyless, JSON) still unsubscribe, and do nothing else', async () => {
    const { id } = await upsertSubscriber(app.store.db, { email: 'legacy@example.org' });
    const legacy = (purpose: 'unsubscribe' | 'preferences') => {
      const body = Buffer.from(JSON.stringify({ s: id })).toString('base64url');
      const mac = createHmac('sha256', SECRET)
        .update(`${purpose}.${body}`)
        .digest()
        .subarray(0, 12);
      return `${body}.${mac.toString('base64url')}`;
    };
    expect(
      (await verifySubscriberToken(app.store.db, SECRET, 'preferences', legacy('preferences'))).ok,
    ).toBe(false);
    const res = await server.inject({
      method: 'POST',
      url: `/unsubscribe?token=${legacy('unsubscribe')}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(res.statusCode).toBe(200);
  });

  it('migration 0004 gives every existing subscriber its own key, and every new one', async () => {
    const target = await createTestTarget(dialect);
    const store = await openStore(target.target, { migrate: false });
    try {
      await migrateTo(store.db, dialect, '0002_delivery_batches');
      const now = new Date().toISOString();
      for (const email of ['a@example.org', 'b@example.org', 'c@example.org']) {
        await sql`insert into subscribers (email, status, created_at, updated_at)
          values (${email}, 'active', ${now}, ${now})`.execute(store.db);
      }
      await migrateToLatest(store.db, dialect);
      await upsertSubscriber(store.db, { email: 'd@example.org' });
      const rows = await store.db
        .selectFrom('subscribers')
        .select(['email', 'token_key'])
        .execute();
      expect(rows).toHaveLength(4);
      for (const row of rows) expect(row.token_key, row.email).toMatch(/^[0-9a-f]{16}$/);
      expect(new Set(rows.map((r) => r.token_key)).size).toBe(4);
    } finally {
      await store.close();
      await target.dispose();
    }
  });
});
