// SMTP sessions end politely: every pooled session a campaign opened ends with QUIT once idle
// (before any socket timeout) and at shutdown; EHLO names a host, never an address literal.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCampaign } from '../src/campaigns/control.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import { ehloName, SMTP_IDLE_MS } from '../src/mail/transports/smtp.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { openTestStore, type TestStore } from './helpers/stores.ts';

interface Session {
  ehlo: string | false;
  commands: string[];
  closed: boolean;
}

/** An smtp-server sink that records, per session, the EHLO name and every command. */
async function startRecordingSink() {
  const sessions = new Map<string, Session>();
  const session = (id: string) => {
    const known = sessions.get(id);
    if (known) return known;
    const fresh: Session = { ehlo: false, commands: [], closed: false };
    sessions.set(id, fresh);
    return fresh;
  };
  const quiet = () => {};
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: {
      // smtp-server logs each client command at debug level with its connection id.
      debug(meta: { tnx?: string; cid?: string; command?: string }) {
        if (meta?.tnx === 'command' && meta.cid && meta.command)
          session(meta.cid).commands.push(meta.command);
      },
      info: quiet,
      warn: quiet,
      error: quiet,
      trace: quiet,
      fatal: quiet,
    } as never,
    onConnect(s: SMTPServerSession, callback: (error?: Error) => void) {
      session(s.id);
      callback();
    },
    onData(stream, _s, callback) {
      stream.resume();
      stream.on('end', () => callback());
    },
    onClose(s: SMTPServerSession) {
      const recorded = session(s.id);
      recorded.closed = true;
      recorded.ehlo = s.hostNameAppearsAs;
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    sessions,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls until `check` holds or `timeoutMs` passes; returns whether it held. */
async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('SMTP hygiene', () => {
  let t: TestStore;
  let sink: Awaited<ReturnType<typeof startRecordingSink>>;
  let herald: RunningHerald;

  beforeAll(async () => {
    t = await openTestStore('sqlite');
    sink = await startRecordingSink();
    herald = await startHerald(
      testEnv(t.databaseUrl, { SMTP_URL: sink.url, SMTP_POOL_SIZE: '3', SEND_CONCURRENCY: '4' }),
    );
  });
  afterAll(async () => {
    await herald?.close();
    await sink?.close();
    await t?.dispose();
  });

  it('a campaign over the pool: every session says EHLO <from domain> and ends with QUIT once idle', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    await seedSubscribers(
      db,
      Array.from({ length: 300 }, (_, i) => ({
        email: `reader${i}@example.net`,
        name: `Reader ${i}`,
        topics: ['russia-china-relations'],
        status: 'active' as const,
      })),
    );
    const input = createCampaignSchema.parse({ articleIds: [article.id] });
    const { campaign } = await createCampaign(db, input, new Date().toISOString());
    await sendCampaign(
      { db, config: herald.app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    const opened = [...sink.sessions.values()];
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.length).toBeLessThanOrEqual(3);
    // Idle sessions close within the idle time (plus slack for a loaded machine), which is
    // below the 30 s socket timeout that used to cut them without QUIT.
    const allClosed = await eventually(
      () => [...sink.sessions.values()].every((s) => s.closed),
      SMTP_IDLE_MS + 10_000,
    );
    expect(allClosed).toBe(true);
    for (const s of sink.sessions.values()) {
      expect(s.commands.at(-1)).toBe('QUIT');
      expect(s.commands[0]).toBe('EHLO');
      expect(s.ehlo).toBe('example.org');
    }
  }, 120_000);

  it('closing the transport ends its idle sessions with QUIT at once', async () => {
    const before = new Set(sink.sessions.keys());
    const transport = createMailTransport(
      parseConfig({ SMTP_URL: sink.url, MAIL_FROM: 'News <news@example.org>' }),
    );
    await transport.send({
      envelope: { from: 'bounces@example.org', to: ['a@example.net'] },
      raw: 'From: news@example.org\r\nTo: a@example.net\r\nSubject: t\r\n\r\nhello\r\n',
    });
    await transport.close();
    const mine = () => [...sink.sessions.entries()].filter(([id]) => !before.has(id));
    // The server records the close a moment after the client's QUIT.
    expect(await eventually(() => mine().every(([, s]) => s.closed), 5_000)).toBe(true);
    expect(mine()).toHaveLength(1);
    expect(mine()[0]![1].commands.at(-1)).toBe('QUIT');
  });

  it('EHLO name: SMTP_EHLO_NAME, else the From domain, else a dotted machine name; never an IP', () => {
    const from = 'Herald <newsletter@news.example.com>';
    expect(ehloName({ SMTP_EHLO_NAME: 'mx1.example.com', MAIL_FROM: from })).toBe(
      'mx1.example.com',
    );
    expect(ehloName({ SMTP_EHLO_NAME: undefined, MAIL_FROM: from })).toBe('news.example.com');
    expect(
      ehloName({ SMTP_EHLO_NAME: undefined, MAIL_FROM: 'x@[192.0.2.1]' }, 'host.lan.example'),
    ).toBe('host.lan.example');
    expect(ehloName({ SMTP_EHLO_NAME: undefined, MAIL_FROM: 'x@[192.0.2.1]' }, 'bare')).toBe(
      'localhost.localdomain',
    );
    expect(() => parseConfig({ SMTP_EHLO_NAME: '127.0.0.1' })).toThrow(/SMTP_EHLO_NAME/);
    expect(() => parseConfig({ SMTP_EHLO_NAME: '[127.0.0.1]' })).toThrow(/SMTP_EHLO_NAME/);
    expect(() => parseConfig({ SMTP_EHLO_NAME: 'bare' })).toThrow(/SMTP_EHLO_NAME/);
    expect(parseConfig({ SMTP_EHLO_NAME: 'mail.example.com' }).SMTP_EHLO_NAME).toBe(
      'mail.example.com',
    );
  });
});
