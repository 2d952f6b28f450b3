// `herald demo` on a fresh data dir with no HERALD_SECRET (issue 11, "done when": the README's
// commands still work on a fresh clone): it makes its own secret, kept in the data dir, sends
// the sample campaign into the outbox and keeps serving until SIGTERM.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uniqueName } from './helpers/stores.ts';

describe('herald demo on a fresh clone', () => {
  it('runs without HERALD_SECRET: keeps its own, fills the outbox, serves, stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-demo-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HERALD_DATA_DIR: dataDir,
      QUEUE_PREFIX: uniqueName('demo'),
      PORT: '0',
      LOG_LEVEL: 'warn',
    };
    for (const name of ['HERALD_SECRET', 'DATABASE_URL', 'SMTP_URL', 'PUBLIC_URL'])
      delete env[name];
    const child = spawn('node', ['bin/herald.js', 'demo'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr.on('data', (data: Buffer) => {
          stderr += data.toString();
          const match = /browse them at http:\/\/[^:]+:(\d+)\/admin\/outbox/.exec(stderr);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
        // Say what the demo printed instead of running into the test's own timeout.
        setTimeout(
          () => reject(new Error(`no outbox line within 120 s: ${stderr}`)),
          120_000,
        ).unref();
      });
      expect(stderr).toContain("HERALD_SECRET unset: using the demo's own");
      // Once serving, the sender checks warn about what the embedded defaults get wrong (issue 12).
      const allChecks = () =>
        ['localhost-sender', 'one-click-http', 'postal-placeholder'].every((check) =>
          stderr.includes(`"check":"${check}"`),
        );
      for (let waited = 0; waited < 10_000 && !allChecks(); waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const checks = stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; check?: string })
        .filter((line) => line.msg === 'sender.check.warning')
        .map((line) => line.check);
      expect(checks.sort()).toEqual(['localhost-sender', 'one-click-http', 'postal-placeholder']);
      const sent = /campaign \d+ sent: (\d+) sent, \d+ suppressed, 0 failed/.exec(stderr);
      expect(sent, stderr).not.toBeNull();
      const outbox = readdirSync(join(dataDir, 'outbox')).filter((f) => f.endsWith('.eml'));
      expect(outbox.length).toBe(Number(sent![1]));
      expect(outbox.length).toBeGreaterThan(0);
      // The generated secret: long enough, private to the owner.
      const secret = join(dataDir, 'secret');
      expect(readFileSync(secret, 'utf8').trim().length).toBeGreaterThanOrEqual(43);
      expect(statSync(secret).mode & 0o777).toBe(0o600);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const stuck = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const [code, signal] = await exited;
        clearTimeout(stuck);
        expect({ code, signal }, stderr.slice(-2_000)).toEqual({ code: 0, signal: null });
      }
    }
  }, 180_000);
});
