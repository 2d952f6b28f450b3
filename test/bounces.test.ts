// Bounce and complaint reports: DSN/ARF fixtures (hard, soft, complaint, garbage), the inbound
// SMTP listener, the ESP webhook and the CLI, each checked against the stored state.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/server.ts';
import { createApiKey } from '../src/keys/index.ts';
import { ingestReport, parseReport } from '../src/subscribers/bounces.ts';
import { startBounceListener } from '../src/subscribers/listener.ts';
import { getSubscriber, upsertSubscriber } from '../src/subscribers/repository.ts';
import { suppressionOf } from '../src/subscribers/suppressions.ts';
import { signToken } from '../src/tokens/index.ts';
import { insertCampaign } from './helpers/rows.ts';
import { createTestTarget, DIALECTS, uniqueName } from './helpers/stores.ts';

const SECRET = 'bounce-test-secret-0123456789-abcdef';
const FIXTURES = join(import.meta.dirname, 'fixtures', 'dsn');
const NOW = '2026-01-12T08:00:00.000Z';

/** A fixture with its {{VERP}} / {{UNSUB}} placeholders filled for one recipient. */
function fixture(name: string, subscriberId: number, campaignId?: number): string {
  const claims = campaignId === undefined ? { subscriberId } : { subscriberId, campaignId };
  return readFileSync(join(FIXTURES, name), 'utf8')
    .replaceAll('{{VERP}}', signToken(SECRET, 'bounce', claims))
    .replaceAll('{{UNSUB}}', signToken(SECRET, 'unsubscribe', claims));
}

describe('report parsing', () => {
  it('classifies the fixtures and reports garbage without throwing', async () => {
    const hard = await parseReport(fixture('hard-bounce.eml', 1, 2));
    expect(hard).toMatchObject({ ok: true, kind: 'hard', recipient: 'nobody@example.net' });
    expect(hard.ok && hard.reply).toContain('5.1.1');
    expect(hard.ok && hard.bounceTokens.length).toBeGreaterThan(0);
    expect(await parseReport(fixture('soft-bounce.eml', 1, 2))).toMatchObject({
      ok: true,
      kind: 'soft',
    });
    expect(await parseReport(fixture('complaint.eml', 1, 2))).toMatchObject({
      ok: true,
      kind: 'complaint',
      reply: 'ARF abuse',
    });
    const garbage = await parseReport(readFileSync(join(FIXTURES, 'garbage.eml')));
    expect(garbage).toMatchObject({ ok: false });
    expect(await parseReport(Buffer.from([0, 1, 2, 255, 254]))).toMatchObject({ ok: false });
    expect(await parseReport('')).toMatchObject({ ok: false });
  });
});

describe.each(DIALECTS)('bounces on %s', (dialect) => {
  let app: App;
  let dispose: () => Promise<void>;
  let databaseUrl: string;
  let campaignId: number;

  beforeAll(async () => {
    const target = await createTestTarget(dialect);
    dispose = target.dispose;
    databaseUrl = target.databaseUrl;
    app = await createApp(
      parseConfig({
        DATABASE_URL: target.databaseUrl,
        QUEUE_PREFIX: uniqueName('bnc'),
        LOG_LEVEL: 'silent',
        HERALD_SECRET: SECRET,
        MAIL_FROM: 'Herald <news@herald.localhost>',
      }),
    );
    campaignId = await insertCampaign(app.store.db, {
      subject: 'Lavrov in Beijing',
      status: 'sent',
    });
  });
  afterAll(async () => {
    await app?.close();
    await dispose?.();
  });

  async function recipient(email: string): Promise<number> {
    const { id } = await upsertSubscriber(app.store.db, { email });
    await app.store.db
      .insertInto('deliveries')
      .values({ campaign_id: campaignId, subscriber_id: id, status: 'sent', updated_at: NOW })
      .execute();
    return id;
  }

  const ledgerOf = (subscriberId: number) =>
    app.store.db
      .selectFrom('deliveries')
      .selectAll()
      .where('campaign_id', '=', campaignId)
      .where('subscriber_id', '=', subscriberId)
      .executeTakeFirstOrThrow();

  it('hard bounce DSN: bounced, suppressed, ledger bounced with the reply', async () => {
    const id = await recipient('nobody@example.net');
    const result = await ingestReport(app.store.db, fixture('hard-bounce.eml', id, campaignId), {
      secret: SECRET,
    });
    expect(result).toMatchObject({
      ok: true,
      kind: 'hard',
      subscriberId: id,
      campaignId,
      outcome: 'bounced',
    });
    expect((await getSubscriber(app.store.db, id))?.status).toBe('bounced');
    expect(await suppressionOf(app.store.db, 'nobody@example.net')).toBe('hard-bounce');
    const ledger = await ledgerOf(id);
    expect(ledger.status).toBe('bounced');
    expect(ledger.last_reply).toContain('5.1.1');
  });

  it('soft bounce DSN: recorded, still active until the limit', async () => {
    const id = await recipient('full@example.org');
    const result = await ingestReport(app.store.db, fixture('soft-bounce.eml', id, campaignId), {
      secret: SECRET,
    });
    expect(result).toMatchObject({ ok: true, kind: 'soft', outcome: 'soft' });
    expect((await getSubscriber(app.store.db, id))?.status).toBe('active');
    expect(await suppressionOf(app.store.db, 'full@example.org')).toBeNull();
    expect((await ledgerOf(id)).status).toBe('sent');
    const limited = await ingestReport(app.store.db, fixture('soft-bounce.eml', id, campaignId), {
      secret: SECRET,
      softBounceLimit: 1,
    });
    expect(limited).toMatchObject({ ok: true, outcome: 'soft-suppressed' });
    expect(await suppressionOf(app.store.db, 'full@example.org')).toBe('hard-bounce');
  });

  it('ARF complaint: complained and suppressed (token from Original-Mail-From or the Return-Path)', async () => {
    const id = await recipient('angry@example.com');
    const result = await ingestReport(app.store.db, fixture('complaint.eml', id, campaignId), {
      secret: SECRET,
    });
    expect(result).toMatchObject({ ok: true, kind: 'complaint', outcome: 'complained' });
    expect((await getSubscriber(app.store.db, id))?.status).toBe('complained');
    expect(await suppressionOf(app.store.db, 'angry@example.com')).toBe('complaint');

    // Without Original-Mail-From, the reported message's own Return-Path names the subscriber.
    const other = await recipient('angry2@example.com');
    const verp = signToken(SECRET, 'bounce', { subscriberId: other, campaignId });
    const byReturnPath = fixture('complaint.eml', other, campaignId)
      .replace(/Original-Mail-From: .*\n/, '')
      .replace(
        'From: Herald <newsletter@herald.localhost>\n',
        `Return-Path: <bounces+${verp}@herald.localhost>\nFrom: Herald <newsletter@herald.localhost>\nFeedback-ID: ${campaignId}:campaign:herald:herald.localhost\n`,
      );
    expect(await ingestReport(app.store.db, byReturnPath, { secret: SECRET })).toMatchObject({
      ok: true,
      subscriberId: other,
    });
    expect((await getSubscriber(app.store.db, other))?.status).toBe('complained');
  });

  it("ARF complaint quoting someone else's footer link does not touch them", async () => {
    const victim = await recipient('victim@example.com');
    const reporter = await recipient('reporter@example.com');
    // The victim's unsubscribe link (from a forwarded newsletter) in the quoted body; no VERP.
    const onlyLink = fixture('complaint.eml', victim, campaignId).replace(
      /Original-Mail-From: .*\n/,
      '',
    );
    expect(await ingestReport(app.store.db, onlyLink, { secret: SECRET })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('VERP'),
    });
    // The reporter's own VERP with the victim's link quoted: only the reporter is affected.
    const reporterVerp = signToken(SECRET, 'bounce', { subscriberId: reporter, campaignId });
    const quoted = onlyLink.replace(
      'Arrival-Date:',
      `Original-Mail-From: <bounces+${reporterVerp}@herald.localhost>\nArrival-Date:`,
    );
    expect(await ingestReport(app.store.db, quoted, { secret: SECRET })).toMatchObject({
      ok: true,
      subscriberId: reporter,
    });
    expect((await getSubscriber(app.store.db, victim))?.status).toBe('active');
    expect(await suppressionOf(app.store.db, 'victim@example.com')).toBeNull();
    expect((await getSubscriber(app.store.db, reporter))?.status).toBe('complained');

    // A VERP token for one campaign on a message whose Feedback-ID names another: refused.
    const mismatched = fixture('complaint.eml', victim, campaignId).replace(
      'From: Herald <newsletter@herald.localhost>\n',
      `From: Herald <newsletter@herald.localhost>\nFeedback-ID: ${campaignId + 1000}:campaign:herald:herald.localhost\n`,
    );
    expect(await ingestReport(app.store.db, mismatched, { secret: SECRET })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('Feedback-ID'),
    });
    expect((await getSubscriber(app.store.db, victim))?.status).toBe('active');
  });

  it('garbage and forged tokens are reported, not applied', async () => {
    const id = await recipient('safe@example.com');
    expect(
      await ingestReport(app.store.db, readFileSync(join(FIXTURES, 'garbage.eml')), {
        secret: SECRET,
      }),
    ).toMatchObject({ ok: false });
    const forged = fixture('hard-bounce.eml', id, campaignId);
    expect(
      await ingestReport(app.store.db, forged, { secret: 'another-secret-0123456789' }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining('token'),
    });
    expect((await getSubscriber(app.store.db, id))?.status).toBe('active');
  });

  it('the inbound SMTP listener applies a DSN sent to bounces+TOKEN@ and a mailto unsubscribe', async () => {
    const listener = await startBounceListener(app, { port: 0, host: '127.0.0.1' });
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: listener.port,
      secure: false,
      ignoreTLS: true,
    });
    try {
      const id = await recipient('listener@example.net');
      const token = signToken(SECRET, 'bounce', { subscriberId: id, campaignId });
      // The report itself carries no token: only the envelope recipient names the subscriber.
      const raw = fixture('hard-bounce.eml', id, campaignId).replaceAll(token, 'stripped.token');
      await transport.sendMail({
        envelope: { from: '', to: [`bounces+${token}@herald.localhost`] },
        raw,
      });
      expect((await getSubscriber(app.store.db, id))?.status).toBe('bounced');

      const quitter = await recipient('mailto@example.net');
      const unsub = signToken(SECRET, 'unsubscribe', { subscriberId: quitter, campaignId });
      await transport.sendMail({
        envelope: { from: 'mailto@example.net', to: [`unsubscribe+${unsub}@herald.localhost`] },
        raw: 'From: mailto@example.net\r\nTo: unsubscribe@herald.localhost\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n',
      });
      expect((await getSubscriber(app.store.db, quitter))?.status).toBe('unsubscribed');

      // Garbage is accepted (250) and changes nothing.
      const info = await transport.sendMail({
        envelope: { from: 'x@example.com', to: ['bounces+junk@herald.localhost'] },
        raw: readFileSync(join(FIXTURES, 'garbage.eml')),
      });
      expect(info.response).toMatch(/^250/);
    } finally {
      transport.close();
      await listener.stop();
    }
  });

  it('POST /api/events/bounce (ESP webhook) applies events and rejects bad ones with a 400', async () => {
    const server: FastifyInstance = await buildServer(app);
    try {
      const { key } = await createApiKey(app.store.db, 'editor');
      const auth = { authorization: `Bearer ${key}` };
      const hard = await recipient('webhook-hard@example.org');
      const complaint = await recipient('webhook-complaint@example.org');
      const res = await server.inject({
        method: 'POST',
        url: '/api/events/bounce',
        headers: auth,
        payload: [
          {
            type: 'bounce',
            bounceType: 'permanent',
            returnPath: `bounces+${signToken(SECRET, 'bounce', { subscriberId: hard, campaignId })}@herald.localhost`,
            status: '5.1.1',
            diagnostic: 'user unknown',
          },
          {
            type: 'complaint',
            token: signToken(SECRET, 'bounce', { subscriberId: complaint, campaignId }),
          },
          { type: 'bounce', bounceType: 'hard', token: 'forged.token' },
        ],
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true, false]);
      expect((await getSubscriber(app.store.db, hard))?.status).toBe('bounced');
      expect((await ledgerOf(hard)).last_reply).toBe('5.1.1 user unknown');
      expect((await getSubscriber(app.store.db, complaint))?.status).toBe('complained');

      const bad = await server.inject({
        method: 'POST',
        url: '/api/events/bounce',
        headers: auth,
        payload: { type: 'bounce' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().details[0].field).toBe('token');
      const anonymous = await server.inject({
        method: 'POST',
        url: '/api/events/bounce',
        payload: {},
      });
      expect(anonymous.statusCode).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('herald bounces apply takes the webhook JSON; suppressions remove of an unlisted address is one line, exit 2', async () => {
    const soft = await recipient('cli-apply-soft@example.net');
    const dir = mkdtempSync(join(tmpdir(), 'herald-events-'));
    const eventsFile = join(dir, 'events.json');
    writeFileSync(
      eventsFile,
      JSON.stringify([
        {
          type: 'bounce',
          status: '4.2.2',
          token: signToken(SECRET, 'bounce', { subscriberId: soft, campaignId }),
        },
        { type: 'bounce', bounceType: 'hard', token: 'forged.token' },
      ]),
    );
    const run = promisify(execFile);
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HERALD_SECRET: SECRET,
      LOG_LEVEL: 'silent',
    };
    const cwd = join(import.meta.dirname, '..');
    const applied = await run('node', ['bin/herald.js', 'bounces', 'apply', eventsFile, '--json'], {
      env,
      cwd,
    }).catch((error: { stdout: string; code: number }) => error);
    // The forged token is not applied: exit 1, as `bounces ingest` does for an unreadable file.
    expect((applied as { code?: number }).code).toBe(1);
    const printed = JSON.parse((applied as { stdout: string }).stdout) as {
      results: Array<{ ok: boolean; kind?: string; subscriberId?: number }>;
    };
    expect(printed.results).toEqual([
      expect.objectContaining({ ok: true, kind: 'soft', subscriberId: soft, outcome: 'soft' }),
      { ok: false, reason: 'token does not verify' },
    ]);
    // One soft bounce is counted, not suppressed: the subscriber stays active.
    expect((await getSubscriber(app.store.db, soft))?.status).toBe('active');

    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ type: 'bounce' }));
    const bad = await run('node', ['bin/herald.js', 'bounces', 'apply', badFile], {
      env,
      cwd,
    }).catch((error: { stderr: string; code: number }) => error);
    expect((bad as { code?: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toBe(
      `herald: ${badFile}: token: token or returnPath is required\n`,
    );

    // A file larger than the API's body limit is refused before it is read.
    const bigFile = join(dir, 'big.json');
    writeFileSync(bigFile, `[${' '.repeat(2 * 1024 * 1024)}]`);
    const big = await run('node', ['bin/herald.js', 'bounces', 'apply', bigFile], {
      env,
      cwd,
    }).catch((error: { stderr: string; code: number }) => error);
    expect((big as { code?: number }).code).toBe(2);
    expect((big as { stderr: string }).stderr).toBe(
      `herald: ${bigFile}: larger than ${2 * 1024 * 1024} bytes\n`,
    );

    const lift = await run(
      'node',
      ['bin/herald.js', 'suppressions', 'remove', 'never-suppressed@example.net'],
      { env, cwd },
    ).catch((error: { stdout: string; stderr: string; code: number }) => error);
    expect((lift as { code?: number }).code).toBe(2);
    expect((lift as { stdout: string }).stdout).toBe('');
    expect((lift as { stderr: string }).stderr).toBe(
      'herald: the address is not on the suppression list\n',
    );
  });

  it('herald bounces ingest reports each file (garbage → exit 1)', async () => {
    const id = await recipient('cli@example.net');
    const dir = mkdtempSync(join(tmpdir(), 'herald-dsn-'));
    const hardFile = join(dir, 'hard.eml');
    writeFileSync(hardFile, fixture('hard-bounce.eml', id, campaignId));
    const run = promisify(execFile);
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HERALD_SECRET: SECRET,
      LOG_LEVEL: 'silent',
    };
    // Over the listener's 10 MB cap: refused unread, like an unreadable file.
    const bigFile = join(dir, 'big.eml');
    writeFileSync(bigFile, 'x'.repeat(10 * 1024 * 1024 + 1));
    const result = await run(
      'node',
      [
        'bin/herald.js',
        'bounces',
        'ingest',
        hardFile,
        join(FIXTURES, 'garbage.eml'),
        bigFile,
        '--json',
      ],
      { env, cwd: join(import.meta.dirname, '..') },
    ).catch((error: { stdout: string; code: number }) => error);
    expect((result as { code?: number }).code).toBe(1);
    const printed = JSON.parse((result as { stdout: string }).stdout) as {
      results: Array<{ ok: boolean; kind?: string; reason?: string }>;
    };
    expect(printed.results.map((r) => r.ok)).toEqual([true, false, false]);
    expect(printed.results[2]?.reason).toBe(`larger than ${10 * 1024 * 1024} bytes`);
    expect(printed.results[0]?.kind).toBe('hard');
    expect((await getSubscriber(app.store.db, id))?.status).toBe('bounced');
  });
});
