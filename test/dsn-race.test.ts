// A DSN that arrives between the send and the (grouped, later) outcome write of the same
// ledger row: the row stays `bounced` and the subscriber suppressed. Once with the pieces
// called in that order (the writer held open), once end to end through an MTA that returns
// the DSN to the bounce listener before it answers 250. And the `delivery.batch.failed` log,
// which carries the failure's SMTP codes and never the address.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { sendCampaign } from '../src/campaigns/control.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { parseConfig } from '../src/config/index.ts';
import { createOutcomeWriter } from '../src/delivery/outcome-writer.ts';
import { openQueues } from '../src/delivery/queues.ts';
import { insertLedgerRows } from '../src/ledger/ledger.ts';
import { createLogger } from '../src/log/index.ts';
import { classifySendError } from '../src/mail/smtp-reply.ts';
import { ingestReport } from '../src/subscribers/bounces.ts';
import { suppressionOf } from '../src/subscribers/events.ts';
import { type BounceListener, startBounceListener } from '../src/subscribers/listener.ts';
import { getSubscriber, upsertSubscriber } from '../src/subscribers/repository.ts';
import { signToken } from '../src/tokens/index.ts';
import { startWorkers } from '../workers/index.ts';
import { type RunningHerald, startHerald, testEnv, waitForCampaign } from './helpers/herald.ts';
import { insertCampaign } from './helpers/rows.ts';
import { seedFixtureArticle, seedSubscribers } from './helpers/seed.ts';
import { DIALECTS, openTestStore, type TestStore } from './helpers/stores.ts';

const DSN_FIXTURE = join(import.meta.dirname, 'fixtures', 'dsn', 'hard-bounce.eml');

/** Postfix's DSN for a message whose VERP token is `token`. */
function dsnFor(token: string): string {
  return readFileSync(DSN_FIXTURE, 'utf8').replaceAll('{{VERP}}', token);
}

describe.each(DIALECTS)('DSN before the outcome write (%s)', (dialect) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(dialect);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('the held `sent` outcome does not overwrite the row a DSN marked bounced', async () => {
    const secret = 'dsn-race-secret-0123456789abcdef';
    const db = t.store.db;
    const { id: subscriberId } = await upsertSubscriber(db, { email: 'gone@example.net' });
    const campaignId = await insertCampaign(db, { status: 'sending' });
    await insertLedgerRows(db, campaignId, [{ subscriberId }], new Date().toISOString());
    const claim = `b-${campaignId}-0@1`;
    await db.updateTable('deliveries').set({ status: 'sending', claim }).execute();

    // 1. The message left: its `sent` outcome waits in the writer's cycle (held open).
    const writer = createOutcomeWriter(db, () => new Date(), { flushMs: 600_000 });
    const written = writer.record(campaignId, claim, {
      subscriberId,
      status: 'sent',
      reply: '250 2.0.0 Ok: queued as A1B2C3',
      attempted: true,
    });
    // 2. The DSN arrives and is applied.
    const token = signToken(secret, 'bounce', { subscriberId, campaignId });
    expect(await ingestReport(db, dsnFor(token), { secret })).toMatchObject({
      ok: true,
      outcome: 'bounced',
    });
    const between = await db
      .selectFrom('deliveries')
      .select(['status', 'attempts'])
      .where('campaign_id', '=', campaignId)
      .executeTakeFirstOrThrow();
    // The race really happened: bounced before the send's outcome was written.
    expect(between).toEqual({ status: 'bounced', attempts: 0 });
    // 3. The outcome write comes last.
    await writer.flush();
    await written;

    const row = await db
      .selectFrom('deliveries')
      .select(['status', 'last_reply'])
      .where('campaign_id', '=', campaignId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('bounced');
    expect(row.last_reply).toContain('5.1.1');
    expect((await getSubscriber(db, subscriberId))?.status).toBe('bounced');
    expect(await suppressionOf(db, 'gone@example.net')).toBe('hard-bounce');
  });

  it('an outcome write still moves rows that are not bounced (sent, and bounced over sending)', async () => {
    const db = t.store.db;
    const [a, b] = await seedSubscribers(db, [
      { email: 'a-ok@example.net', topics: [] },
      { email: 'b-ok@example.net', topics: [] },
    ]);
    const campaignId = await insertCampaign(db, { status: 'sending' });
    await insertLedgerRows(
      db,
      campaignId,
      [{ subscriberId: a! }, { subscriberId: b! }],
      new Date().toISOString(),
    );
    const claim = `b-${campaignId}-0@1`;
    await db.updateTable('deliveries').set({ status: 'sending', claim }).execute();
    const writer = createOutcomeWriter(db, () => new Date(), { flushMs: 600_000 });
    const written = [
      writer.record(campaignId, claim, {
        subscriberId: a!,
        status: 'sent',
        reply: '250 ok',
        attempted: true,
      }),
      writer.record(campaignId, claim, {
        subscriberId: b!,
        status: 'bounced',
        reply: '550 5.1.1 no such user',
        attempted: true,
      }),
    ];
    await writer.flush();
    await Promise.all(written);
    const rows = await db
      .selectFrom('deliveries')
      .select(['subscriber_id', 'status', 'attempts'])
      .where('campaign_id', '=', campaignId)
      .orderBy('subscriber_id')
      .execute();
    expect(rows).toEqual([
      { subscriber_id: a, status: 'sent', attempts: 1 },
      { subscriber_id: b, status: 'bounced', attempts: 1 },
    ]);
  });
});

/**
 * An MTA on loopback that, for doomed recipients, returns Postfix's DSN to the bounce listener
 * (to the message's VERP address) and only then answers 250: the DSN is in the store before
 * the sender even knows the message left.
 */
async function startBouncingMta(
  doomed: ReadonlySet<string>,
  listenerPort: () => number,
): Promise<{ url: string; dsnsSent: () => number; close(): Promise<void> }> {
  let dsnsSent = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address);
        if (!to.some((address) => doomed.has(address))) return callback(null, 'Ok: queued');
        const token = /^bounces\+([^@]+)@/.exec(mailFrom)?.[1] ?? '';
        const returner = nodemailer.createTransport({
          host: '127.0.0.1',
          port: listenerPort(),
          secure: false,
          ignoreTLS: true,
        });
        returner
          .sendMail({ envelope: { from: '', to: [mailFrom] }, raw: dsnFor(token) })
          .then(() => {
            dsnsSent += 1;
            callback(null, 'Ok: queued');
          })
          .catch((error: Error) => callback(error))
          .finally(() => returner.close());
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    dsnsSent: () => dsnsSent,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.each(DIALECTS)('DSN race end to end (%s)', (dialect) => {
  let t: TestStore;
  let herald: RunningHerald;
  let listener: BounceListener;
  let mta: Awaited<ReturnType<typeof startBouncingMta>>;
  const doomed = new Set(['unknown1@example.net', 'unknown2@example.net']);

  beforeAll(async () => {
    t = await openTestStore(dialect);
    mta = await startBouncingMta(doomed, () => listener.port);
    herald = await startHerald(testEnv(t.databaseUrl, { SMTP_URL: mta.url }));
    listener = await startBounceListener(herald.app, { port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await herald?.close();
    await listener?.stop();
    await mta?.close();
    await t?.dispose();
  });

  it('rows bounced by a DSN that beat their `sent` write stay bounced; the address is suppressed', async () => {
    const db = herald.app.store.db;
    const article = await seedFixtureArticle(db);
    const emails = [
      'reader1@example.net',
      'unknown1@example.net',
      'reader2@example.net',
      'unknown2@example.net',
    ];
    await seedSubscribers(
      db,
      emails.map((email) => ({ email, topics: ['russia-china-relations'] })),
    );
    const input = createCampaignSchema.parse({
      articleIds: [article.id],
      topics: ['russia-china-relations'],
    });
    const { campaign } = await createCampaign(db, input, new Date().toISOString());
    await sendCampaign(
      { db, config: herald.app.config, queues: herald.queues, now: () => new Date() },
      campaign.id,
    );
    const report = await waitForCampaign(herald.app, campaign.id, (r) => r.status === 'sent');
    expect(mta.dsnsSent()).toBe(2);
    expect(report).toMatchObject({ total: 4, sent: 2, bounced: 2 });
    for (const email of doomed) {
      const subscriber = await db
        .selectFrom('subscribers')
        .select('status')
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      expect(subscriber.status).toBe('bounced');
      expect(await suppressionOf(db, email)).toBe('hard-bounce');
    }
  });
});

describe('delivery.batch.failed log', () => {
  it('classifySendError reads the reply code and enhanced status', () => {
    const error = Object.assign(new Error("Can't send mail"), {
      responseCode: 450,
      response: '450 4.2.0 <grey@example.net>: Recipient address rejected: Greylisted',
    });
    expect(classifySendError(error)).toMatchObject({
      kind: 'temporary',
      smtpCode: 450,
      enhancedStatus: '4.2.0',
    });
    expect(classifySendError(Object.assign(new Error('x'), { code: 'ECONNECTION' }))).toMatchObject(
      { kind: 'temporary', smtpCode: null, enhancedStatus: null },
    );
    expect(
      classifySendError({
        responseCode: 550,
        response: '550-5.1.1 The email account does not exist',
      }),
    ).toMatchObject({ kind: 'permanent', smtpCode: 550, enhancedStatus: '5.1.1' });
  });

  it('carries the SMTP code and enhanced status of a greylisted batch, never the address', async () => {
    const t = await openTestStore('sqlite');
    // An MTA that greylists every recipient, quoting the address as Postfix does.
    const mta = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, callback) {
        const error = Object.assign(
          new Error(`4.2.0 <${address.address}>: Recipient address rejected: Greylisted`),
          { responseCode: 450 },
        );
        callback(error);
      },
    });
    mta.on('error', () => {});
    await new Promise<void>((resolve) => mta.listen(0, '127.0.0.1', () => resolve()));
    const port = (mta.server.address() as AddressInfo).port;
    const lines: string[] = [];
    const logger = createLogger('info', {
      write(line: string) {
        lines.push(line);
      },
    });
    const env = testEnv(t.databaseUrl, {
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      SEND_RETRY_ATTEMPTS: '1',
      LOG_LEVEL: 'info',
    });
    const app = await createApp(parseConfig(env), { logger });
    const queues = openQueues(app);
    const workers = await startWorkers(app, ['campaigns', 'deliveries']);
    try {
      const db = app.store.db;
      const article = await seedFixtureArticle(db);
      await seedSubscribers(db, [
        { email: 'grey.listed@example.net', topics: ['russia-china-relations'] },
      ]);
      const input = createCampaignSchema.parse({
        articleIds: [article.id],
        topics: ['russia-china-relations'],
      });
      const { campaign } = await createCampaign(db, input, new Date().toISOString());
      await sendCampaign({ db, config: app.config, queues, now: () => new Date() }, campaign.id);
      await waitForCampaign(app, campaign.id, (r) => r.status === 'sent');
      const failed = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.msg === 'delivery.batch.failed');
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed[0]).toMatchObject({
        campaign_id: campaign.id,
        smtp_code: 450,
        enhanced_status: '4.2.0',
      });
      // The address appears nowhere in what was logged.
      expect(lines.join('\n')).not.toContain('grey.listed');
    } finally {
      for (const worker of workers.reverse()) await worker.stop();
      await Promise.all(Object.values(queues).map((q) => q.obliterate({ force: true })));
      await app.close();
      await new Promise<void>((resolve) => mta.close(() => resolve()));
      await t.dispose();
    }
  });
});
