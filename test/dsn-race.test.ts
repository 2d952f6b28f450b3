// A DSN that arrives between the send and the (grouped, later) outcome write of the same
// ledger row: the row stays `bounced` and the subscriber suppressed. Once with the pieces
// called in that order (the writer held open), once end to end through an MTA that returns
// the DSN to the bounce listener before it answers 250.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCampaign } from '../src/campaigns/control.ts';
import { createCampaignSchema } from '../src/campaigns/model.ts';
import { createCampaign } from '../src/campaigns/repository.ts';
import { createOutcomeWriter } from '../src/delivery/outcome-writer.ts';
import { insertLedgerRows } from '../src/store/ledger.ts';
import { ingestReport } from '../src/subscribers/bounces.ts';
import { suppressionOf } from '../src/subscribers/events.ts';
import { type BounceListener, startBounceListener } from '../src/subscribers/listener.ts';
import { getSubscriber, upsertSubscriber } from '../src/subscribers/repository.ts';
import { signToken } from '../src/tokens/index.ts';
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
