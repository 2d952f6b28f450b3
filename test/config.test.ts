import { describe, expect, it } from 'vitest';
import { commandLogLevel } from '../src/cli/context.ts';
import { ConfigError, debugStacks, parseConfig } from '../src/config/index.ts';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = parseConfig({});
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.QUEUE_PREFIX).toBe('herald');
    expect(config.PORT).toBe(3000);
    expect(config.SEND_RATE).toBeUndefined();
    expect(config.database.dialect).toBe('sqlite');
    expect(config.database).toMatchObject({ path: expect.stringMatching(/var\/herald\.sqlite$/) });
    expect(config.outboxDir).toMatch(/var\/outbox$/);
  });

  it('tells an unset LOG_LEVEL from an explicit info, so one-shot commands can honour it', () => {
    const unset = parseConfig({});
    expect(unset).toMatchObject({ LOG_LEVEL: 'info', logLevelSet: false });
    expect(commandLogLevel(unset)).toBe('silent');
    const info = parseConfig({ LOG_LEVEL: 'info' });
    expect(info).toMatchObject({ LOG_LEVEL: 'info', logLevelSet: true });
    expect(commandLogLevel(info)).toBe('info');
    expect(commandLogLevel(parseConfig({ LOG_LEVEL: 'debug' }))).toBe('debug');
    expect(commandLogLevel(parseConfig({ LOG_LEVEL: '' }))).toBe('silent');
    expect(errorOf({ LOG_LEVEL: 'loud' }).variable).toBe('LOG_LEVEL');
  });

  it('HERALD_DEBUG (read by the config module, like every variable) turns stack traces on', () => {
    expect(debugStacks({})).toBe(false);
    expect(debugStacks({ HERALD_DEBUG: '' })).toBe(false);
    expect(debugStacks({ HERALD_DEBUG: '1' })).toBe(true);
  });

  it('names the variable and the rule for a bad value', () => {
    const redis = errorOf({ REDIS_URL: 'nope' });
    expect(redis.variable).toBe('REDIS_URL');
    expect(redis.message).toMatch(/^Invalid REDIS_URL: must be a URL starting with redis:\/\//);
    const rate = errorOf({ SEND_RATE: '-3' });
    expect(rate.variable).toBe('SEND_RATE');
    expect(rate.message).toMatch(/above 0/);
    expect(errorOf({ PORT: 'eighty' }).variable).toBe('PORT');
    expect(errorOf({ DATABASE_URL: 'mysql://x' }).variable).toBe('DATABASE_URL');
    expect(errorOf({ DKIM_DOMAIN: 'example.org' }).variable).toBe('DKIM_SELECTOR');
  });

  it('DELIVERY_PROCESSES: one per core by default, a whole number from 1 to 64 when set', async () => {
    const { availableParallelism } = await import('node:os');
    expect(parseConfig({}).DELIVERY_PROCESSES).toBe(Math.min(64, availableParallelism()));
    expect(parseConfig({ DELIVERY_PROCESSES: '1' }).DELIVERY_PROCESSES).toBe(1);
    expect(parseConfig({ DELIVERY_PROCESSES: ' 12 ' }).DELIVERY_PROCESSES).toBe(12);
    expect(parseConfig({ DELIVERY_PROCESSES: '64' }).DELIVERY_PROCESSES).toBe(64);
    expect(parseConfig({ DELIVERY_PROCESSES: '' }).DELIVERY_PROCESSES).toBe(
      Math.min(64, availableParallelism()),
    );
    for (const bad of ['0', '65', '2.5', '-1', 'four', '1e1', '0x4', '999']) {
      const error = errorOf({ DELIVERY_PROCESSES: bad });
      expect(error.variable).toBe('DELIVERY_PROCESSES');
      expect(error.message).toBe('Invalid DELIVERY_PROCESSES: must be a whole number from 1 to 64');
    }
  });

  it('reads postgres and sqlite DATABASE_URLs', () => {
    expect(parseConfig({ DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      dialect: 'postgres',
      url: 'postgres://u@h/db',
    });
    expect(parseConfig({ DATABASE_URL: 'sqlite:/tmp/x.db' }).database).toEqual({
      dialect: 'sqlite',
      path: '/tmp/x.db',
    });
  });

  it('points links at HOST/PORT when PUBLIC_URL is unset', () => {
    expect(parseConfig({}).PUBLIC_URL).toBe('http://localhost:3000');
    expect(parseConfig({ PORT: '8080' }).PUBLIC_URL).toBe('http://localhost:8080');
    expect(parseConfig({ HOST: '0.0.0.0', PORT: '4000' }).PUBLIC_URL).toBe('http://localhost:4000');
    expect(parseConfig({ HOST: '::', PORT: '4000' }).PUBLIC_URL).toBe('http://localhost:4000');
    expect(parseConfig({ HOST: '127.0.0.2', PORT: '4000' }).PUBLIC_URL).toBe(
      'http://localhost:4000',
    );
    expect(parseConfig({ HOST: 'news.example.org', PORT: '8443' }).PUBLIC_URL).toBe(
      'http://news.example.org:8443',
    );
    expect(parseConfig({ HOST: '2001:db8::5', PORT: '80' }).PUBLIC_URL).toBe(
      'http://[2001:db8::5]:80',
    );
    // An explicit PUBLIC_URL wins whatever the listener.
    expect(parseConfig({ PUBLIC_URL: 'https://news.example.org', PORT: '8080' }).PUBLIC_URL).toBe(
      'https://news.example.org',
    );
    expect(parseConfig({ PUBLIC_URL: '', PORT: '8080' }).PUBLIC_URL).toBe('http://localhost:8080');
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig({ SEND_RATE: '', SMTP_URL: '' }).SEND_RATE).toBeUndefined();
  });

  it('stops the CLI with one line naming the variable', async () => {
    const { execFileSync } = await import('node:child_process');
    let stderr = '';
    let status = 0;
    try {
      execFileSync('node', ['bin/herald.js', 'start'], {
        env: { ...process.env, SEND_RATE: '-3' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const failed = error as { status: number; stderr: string };
      status = failed.status;
      stderr = failed.stderr;
    }
    expect(status).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      'herald: Invalid SEND_RATE: must be above 0 messages per second',
    ]);
  });
});
