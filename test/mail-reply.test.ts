// The mail port's pure parts: the SMTP reply classifier (a table), the typed failure, and the
// factory's choice of transport. No SMTP server, Redis or database.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config/index.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import { classifySendError, toMailSendError } from '../src/mail/smtp-reply.ts';
import { MailSendError } from '../src/mail/transport.ts';

/** An error shaped as nodemailer rejects an SMTP reply. */
function smtpReply(response: string): Error {
  const code = Number(response.slice(0, 3));
  return Object.assign(new Error(`Can't send mail - all recipients were rejected: ${response}`), {
    code: 'EENVELOPE',
    response,
    responseCode: code,
  });
}

/** An error shaped as nodemailer rejects a connection-level failure (no reply). */
function connectionError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const table: Array<{
  name: string;
  error: unknown;
  kind: 'temporary' | 'permanent';
  smtpCode: number | null;
  enhancedStatus: string | null;
}> = [
  {
    name: '421 service not available',
    error: smtpReply('421 4.3.2 Service shutting down'),
    kind: 'temporary',
    smtpCode: 421,
    enhancedStatus: '4.3.2',
  },
  {
    name: '450 mailbox unavailable (greylisting)',
    error: smtpReply('450 4.2.0 <grey@example.net>: Recipient address rejected: Greylisted'),
    kind: 'temporary',
    smtpCode: 450,
    enhancedStatus: '4.2.0',
  },
  {
    name: '451 local error, enhanced 4.7.1',
    error: smtpReply('451 4.7.1 Please try again later'),
    kind: 'temporary',
    smtpCode: 451,
    enhancedStatus: '4.7.1',
  },
  {
    name: '452 insufficient storage, multi-line reply',
    error: smtpReply('452-4.2.2 The email account is over quota\n452 4.2.2 see the help page'),
    kind: 'temporary',
    smtpCode: 452,
    enhancedStatus: '4.2.2',
  },
  {
    name: '454 TLS not available, no enhanced status',
    error: smtpReply('454 TLS not available due to temporary reason'),
    kind: 'temporary',
    smtpCode: 454,
    enhancedStatus: null,
  },
  {
    name: '550 5.1.1 unknown user',
    error: smtpReply('550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown'),
    kind: 'permanent',
    smtpCode: 550,
    enhancedStatus: '5.1.1',
  },
  {
    name: '550-5.1.1 multi-line (Gmail style)',
    error: smtpReply(
      '550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser',
    ),
    kind: 'permanent',
    smtpCode: 550,
    enhancedStatus: '5.1.1',
  },
  {
    name: '551 user not local',
    error: smtpReply('551 5.1.6 User not local; please try <forward@example.org>'),
    kind: 'permanent',
    smtpCode: 551,
    enhancedStatus: '5.1.6',
  },
  {
    name: '552 exceeded storage allocation',
    error: smtpReply('552 5.2.2 Mailbox full'),
    kind: 'permanent',
    smtpCode: 552,
    enhancedStatus: '5.2.2',
  },
  {
    name: '553 mailbox name not allowed',
    error: smtpReply('553 5.1.3 Bad recipient address syntax'),
    kind: 'permanent',
    smtpCode: 553,
    enhancedStatus: '5.1.3',
  },
  {
    name: '554 transaction failed, policy 5.7.1',
    error: smtpReply('554 5.7.1 Message rejected due to content restrictions'),
    kind: 'permanent',
    smtpCode: 554,
    enhancedStatus: '5.7.1',
  },
  {
    name: 'dropped connection (ECONNRESET)',
    error: connectionError('ECONNRESET', 'Connection closed unexpectedly'),
    kind: 'temporary',
    smtpCode: null,
    enhancedStatus: null,
  },
  {
    name: 'refused connection (ECONNREFUSED)',
    error: connectionError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:25'),
    kind: 'temporary',
    smtpCode: null,
    enhancedStatus: null,
  },
  {
    name: 'timeout (ETIMEDOUT)',
    error: connectionError('ETIMEDOUT', 'Timeout'),
    kind: 'temporary',
    smtpCode: null,
    enhancedStatus: null,
  },
  {
    name: 'not an Error at all',
    error: 'socket hang up',
    kind: 'temporary',
    smtpCode: null,
    enhancedStatus: null,
  },
];

describe('classifySendError', () => {
  it.each(table)('$name → $kind', ({ error, kind, smtpCode, enhancedStatus }) => {
    const failure = classifySendError(error);
    expect(failure).toMatchObject({ kind, smtpCode, enhancedStatus });
    expect(failure.reply.length).toBeGreaterThan(0);
    expect(failure.reply.length).toBeLessThanOrEqual(500);
  });

  it('names the connection error code in the reply of a failure without one', () => {
    expect(classifySendError(connectionError('ECONNRESET', 'Connection closed')).reply).toBe(
      'ECONNRESET: Connection closed',
    );
    expect(classifySendError(smtpReply('550 5.1.1 no such user')).reply).toBe(
      '550 5.1.1 no such user',
    );
  });

  it('keeps the reply to 500 characters', () => {
    const long = `451 4.3.0 ${'x'.repeat(2_000)}`;
    expect(classifySendError(smtpReply(long)).reply).toHaveLength(500);
  });
});

describe('MailSendError', () => {
  it('carries the typed failure, and classifying it again changes nothing', () => {
    const error = toMailSendError(smtpReply('550 5.1.1 <ana@example.net>: User unknown'));
    expect(error).toBeInstanceOf(MailSendError);
    expect(error.failure).toEqual({
      kind: 'permanent',
      reply: '550 5.1.1 <ana@example.net>: User unknown',
      smtpCode: 550,
      enhancedStatus: '5.1.1',
    });
    expect(classifySendError(error)).toEqual(error.failure);
    expect(toMailSendError(error)).toBe(error);
  });

  it('says codes only in its message: the reply (which names the address) stays in reply', () => {
    const error = toMailSendError(smtpReply('550 5.1.1 <ana@example.net>: User unknown'));
    expect(error.message).toBe('permanent send failure (550 5.1.1)');
    expect(error.message).not.toContain('ana@example.net');
    const dropped = toMailSendError(connectionError('ECONNRESET', 'Connection closed'));
    expect(dropped.message).toBe('temporary send failure (no reply code)');
  });
});

describe('createMailTransport', () => {
  const withOutbox = (env: Record<string, string>) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-mail-'));
    return { dataDir, config: parseConfig({ HERALD_DATA_DIR: dataDir, ...env }) };
  };

  it('keeps today’s default: SMTP with SMTP_URL, the outbox without', async () => {
    const smtp = withOutbox({ SMTP_URL: 'smtp://127.0.0.1:1', SMTP_POOL_SIZE: '3' });
    const outbox = withOutbox({});
    try {
      expect(smtp.config.mailTransport).toBe('smtp');
      const smtpTransport = createMailTransport(smtp.config);
      expect(smtpTransport).toMatchObject({ name: 'smtp', label: 'SMTP_URL', concurrency: 6 });
      await smtpTransport.close();
      expect(outbox.config.mailTransport).toBe('outbox');
      const outboxTransport = createMailTransport(outbox.config);
      expect(outboxTransport).toMatchObject({ name: 'outbox', concurrency: 4 });
      await outboxTransport.close();
    } finally {
      rmSync(smtp.dataDir, { recursive: true, force: true });
      rmSync(outbox.dataDir, { recursive: true, force: true });
    }
  });

  it('MAIL_TRANSPORT=outbox wins over a set SMTP_URL', async () => {
    const { dataDir, config } = withOutbox({
      SMTP_URL: 'smtp://127.0.0.1:1',
      MAIL_TRANSPORT: 'outbox',
    });
    try {
      const transport = createMailTransport(config);
      expect(transport.name).toBe('outbox');
      await transport.send({
        envelope: { from: 'a@example.org', to: ['b@example.net'] },
        raw: 'x',
      });
      expect(readdirSync(join(dataDir, 'outbox')).filter((n) => n.endsWith('.eml'))).toHaveLength(
        1,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses MAIL_TRANSPORT=smtp without SMTP_URL, and an unknown transport, naming the variable', () => {
    expect(() => parseConfig({ MAIL_TRANSPORT: 'smtp' })).toThrow(ConfigError);
    expect(() => parseConfig({ MAIL_TRANSPORT: 'smtp' })).toThrow(/^Invalid SMTP_URL: /);
    expect(() => parseConfig({ MAIL_TRANSPORT: 'carrier-pigeon' })).toThrow(
      /^Invalid MAIL_TRANSPORT: /,
    );
  });
});
