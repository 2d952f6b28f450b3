import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

describe('GET /healthz', () => {
  let t: TestStore;
  const apps: App[] = [];
  beforeAll(async () => {
    t = await openTestStore('sqlite');
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await t.dispose();
  });

  async function healthWith(env: Record<string, string>) {
    const app = await createApp(
      parseConfig({ DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent', ...env }),
    );
    apps.push(app);
    const server = await buildServer(app);
    const response = await server.inject({ method: 'GET', url: '/healthz' });
    await server.close();
    return { status: response.statusCode, body: response.json() as Record<string, string> };
  }

  it('answers 200 when Redis and the store answer', async () => {
    const { status, body } = await healthWith({});
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok', redis: 'ok', store: 'ok' });
  });

  it('answers 503 naming REDIS_URL when Redis is not there', async () => {
    const { status, body } = await healthWith({ REDIS_URL: 'redis://127.0.0.1:1' });
    expect(status).toBe(503);
    expect(body.store).toBe('ok');
    expect(body.redis).toMatch(/REDIS_URL=redis:\/\/127\.0\.0\.1:1.*unreachable/);
  });

  it('`herald start` serves it and stops cleanly on SIGTERM', async () => {
    const child = spawn('node', ['bin/herald.js', 'start'], {
      env: {
        ...process.env,
        PORT: '0',
        DATABASE_URL: t.databaseUrl,
        LOG_LEVEL: 'warn',
        HERALD_SECRET: 'healthz-test-secret-0123456789-abcdef',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (data: Buffer) => {
        stderr += data.toString();
        const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ redis: 'ok', store: 'ok' });
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
