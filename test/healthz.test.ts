import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { checkHealth } from '../src/ops/health.ts';
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

  it('answers 503 naming the part that is down, without the reason (that is for /readyz)', async () => {
    const { status, body } = await healthWith({ REDIS_URL: 'redis://:hunter2@127.0.0.1:1' });
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'unavailable', redis: 'unavailable', store: 'ok' });
    // The reason, for ops: it names the variable and hides the password.
    const app = apps[apps.length - 1]!;
    const report = await checkHealth(app);
    expect(report.redis).toMatch(/REDIS_URL=redis:\/\/:\*\*\*@127\.0\.0\.1:1.*unreachable/);
  });

  it('`herald start` serves it (and nothing for ops) and stops cleanly on SIGTERM', async () => {
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
    expect(await response.json()).toEqual({ status: 'ok', redis: 'ok', store: 'ok' });
    // The default is safe: no metrics on the public port, readiness details need a key.
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(401);
    expect(stderr).not.toContain('metrics on');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});

describe('METRICS_PORT', () => {
  it('`herald start` with METRICS_PORT serves /metrics and /readyz on loopback there; its young generation stays small', async () => {
    const t = await openTestStore('sqlite');
    const child = spawn('node', ['bin/herald.js', 'start'], {
      env: {
        ...process.env,
        PORT: '0',
        METRICS_PORT: '0',
        DATABASE_URL: t.databaseUrl,
        LOG_LEVEL: 'warn',
        HERALD_SECRET: 'healthz-test-secret-0123456789abcdef',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      const metricsUrl = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (data: Buffer) => {
          stderr += data.toString();
          const match = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      const metrics = await fetch(`${metricsUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE herald_queue_jobs gauge');
      const ready = await fetch(`${metricsUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ok', redis: 'ok', store: 'ok', smtp: 'ok' });
      // bin/herald.js keeps the young generation at V8's starting size: without it the
      // semi-spaces have grown to 16 MB (32 MB of new space) by the time the server listens.
      const scrapes = await Promise.all(
        Array.from({ length: 20 }, () => fetch(`${metricsUrl}/metrics`).then((r) => r.text())),
      );
      const newSpace = /nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/.exec(
        scrapes.at(-1)!,
      );
      expect(Number(newSpace?.[1])).toBeGreaterThan(0);
      expect(Number(newSpace?.[1])).toBeLessThanOrEqual(4 * 1024 * 1024);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      await t.dispose();
    }
  });
});
