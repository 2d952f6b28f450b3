// The mail port against a real SMTP sink: confirmation mails are built by the one builder and
// so DKIM-signed (mailauth verifies them), and a refused message rejects with the typed failure.
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/index.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import { createMailBuilder, isWireReady } from '../src/mail/message.ts';
import { MailSendError } from '../src/mail/transport.ts';
import { sendConfirmation } from '../src/subscribers/confirmation.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** mailauth's verdict on a raw message, with the test key published for herald._domainkey. */
async function dkimResult(raw: Buffer): Promise<string | undefined> {
  const result = await dkimVerify(raw, {
    resolver: async (name: string, rr: string) => {
      if (name === 'herald._domainkey.news.example.com' && rr === 'TXT')
        return [[`v=DKIM1; k=rsa; p=${spki}`]];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  } as Parameters<typeof dkimVerify>[1]);
  return result.results[0]?.status.result;
}

let sink: SmtpSink;
beforeAll(async () => {
  sink = await startSmtpSink({
    rcptReply: (address) => (address.startsWith('nobody@') ? 550 : undefined),
  });
});
afterAll(async () => {
  await sink?.close();
});

function config(extra: Record<string, string> = {}) {
  return parseConfig({
    SMTP_URL: sink.url,
    PUBLIC_URL: 'https://news.example.com',
    MAIL_FROM: 'Herald News <newsletter@news.example.com>',
    HERALD_SECRET: 'mail-transport-test-secret-0123456789-abc',
    POSTAL_ADDRESS: 'Herald Newsroom, 1 Example Street, 00000 Example City',
    ...extra,
  });
}

const recipient = {
  subscriberId: 7,
  email: 'ana@example.net',
  name: 'Ana',
  tokenKey: '0123456789abcdef',
};

describe('confirmation mails through the mail port', () => {
  it('arrive DKIM-signed and verify with mailauth (confirm and manage notices)', async () => {
    const signing = config({
      DKIM_DOMAIN: 'news.example.com',
      DKIM_SELECTOR: 'herald',
      DKIM_PRIVATE_KEY: pem,
    });
    const transport = createMailTransport(signing);
    try {
      const before = sink.messages.length;
      await sendConfirmation(signing, transport, recipient, new Date(), 'confirm');
      await sendConfirmation(signing, transport, recipient, new Date(), 'manage');
      const received = sink.messages.slice(before);
      expect(received).toHaveLength(2);
      for (const message of received) {
        expect(message.to).toEqual(['ana@example.net']);
        expect(message.raw.toString('latin1')).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;/);
        expect(await dkimResult(message.raw)).toBe('pass');
        const parsed = await sink.parse(message);
        expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
        // Not a list mail: no unsubscribe header that would point nowhere.
        expect(parsed.headers.has('list-unsubscribe')).toBe(false);
        expect(parsed.text).toContain('Hello Ana,');
      }
      const [confirm, manage] = await Promise.all(received.map((m) => sink.parse(m)));
      expect(confirm!.subject).toBe('Please confirm your subscription');
      expect(confirm!.text).toContain('https://news.example.com/confirm?token=');
      expect(manage!.subject).toBe('Your Herald subscription');
      expect(manage!.text).toContain('https://news.example.com/preferences?token=');
    } finally {
      await transport.close();
    }
  });

  it('a changed body fails verification (the check is real)', async () => {
    const signing = config({
      DKIM_DOMAIN: 'news.example.com',
      DKIM_SELECTOR: 'herald',
      DKIM_PRIVATE_KEY: pem,
    });
    const transport = createMailTransport(signing);
    try {
      const before = sink.messages.length;
      await sendConfirmation(signing, transport, recipient);
      const raw = sink.messages[before]!.raw.toString('latin1');
      const tampered = raw.replace(/Content-Transfer-Encoding: base64\r\n\r\n./, (m) =>
        m.endsWith('A') ? `${m.slice(0, -1)}B` : `${m.slice(0, -1)}A`,
      );
      expect(tampered).not.toBe(raw);
      // mailauth reports a body-hash mismatch as neutral ("body hash did not verify").
      expect(await dkimResult(Buffer.from(tampered, 'latin1'))).not.toBe('pass');
    } finally {
      await transport.close();
    }
  });

  it('without a DKIM key the mail goes out unsigned', async () => {
    const plain = config();
    const transport = createMailTransport(plain);
    try {
      const before = sink.messages.length;
      await sendConfirmation(plain, transport, recipient);
      expect(sink.messages[before]!.raw.toString('latin1')).not.toMatch(/^DKIM-Signature:/m);
    } finally {
      await transport.close();
    }
  });
});

describe('the SMTP transport', () => {
  it('hands the pool the built bytes as they are: the sink gets them unchanged, dots and all', async () => {
    const transport = createMailTransport(config());
    try {
      const before = sink.messages.length;
      // A line that starts with a dot must be dot-stuffed on the wire and arrive as written.
      const raw = Buffer.from(
        'From: news@news.example.com\r\nTo: ana@example.net\r\nSubject: raw\r\n' +
          'Message-ID: <raw.1@news.example.com>\r\n\r\nfirst line\r\n.leading dot\r\n..two\r\nlast\r\n',
      );
      const sent = await Promise.all(
        ['ana@example.net', 'bo@example.net'].map((to) =>
          transport.send({
            envelope: { from: 'bounces@news.example.com', to: [to] },
            raw,
            messageId: '<raw.1@news.example.com>',
          }),
        ),
      );
      for (const result of sent) expect(result.response).toMatch(/^250 /);
      const received = sink.messages.slice(before);
      expect(received.map((message) => message.to)).toEqual(
        expect.arrayContaining([['ana@example.net'], ['bo@example.net']]),
      );
      for (const message of received) {
        expect(message.from).toBe('bounces@news.example.com');
        expect(message.raw.equals(raw)).toBe(true);
      }
    } finally {
      await transport.close();
    }
  });
});

describe('wire-ready messages', () => {
  it('go to the socket as built, skipping the byte walk; any other raw is still dot-stuffed', async () => {
    const settings = config({ SMTP_POOL_SIZE: '1' });
    const build = createMailBuilder(
      { subject: 'Wire', headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } },
      settings,
    );
    const built = Array.from({ length: 6 }, (_, i) =>
      build({
        to: { name: `Reader ${i}`, address: `wire${i}@example.net` },
        messageId: `<wire.${i}@news.example.com>`,
        listUnsubscribe: '<https://news.example.com/unsubscribe?token=t>',
        envelope: { from: 'bounces@news.example.com', to: [`wire${i}@example.net`] },
        // Dots and bare line ends in the text are inside base64 on the wire.
        html: `<p>Hello ${i}</p>\n.<p>dot</p>`,
        text: `Hello ${i}\n.dot line\r.\r\n`,
      }),
    );
    for (const message of built) expect(isWireReady(message.raw)).toBe(true);
    const dotted = Buffer.from(
      'From: news@news.example.com\r\nTo: ana@example.net\r\nSubject: dots\r\n\r\n.one\r\n.\r\nend\r\n',
    );
    expect(isWireReady(dotted)).toBe(false);
    const walk = vi.spyOn(DataStream.prototype, '_transform');
    const transport = createMailTransport(settings);
    try {
      const before = sink.messages.length;
      // One connection: the first message opens it, the rest go over it one by one.
      for (const message of built) await transport.send(message);
      await transport.send({
        envelope: { from: 'bounces@news.example.com', to: ['ana@example.net'] },
        raw: dotted,
      });
      const received = sink.messages.slice(before);
      expect(received).toHaveLength(built.length + 1);
      for (const [i, message] of built.entries())
        expect(received[i]!.raw.equals(message.raw)).toBe(true);
      expect(received[built.length]!.raw.equals(dotted)).toBe(true);
      // nodemailer walked the first built message (the connection was new) and the dotted one.
      expect(walk.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      walk.mockRestore();
      await transport.close();
    }
  });
});

describe('SMTP transport failures', () => {
  it('a refused recipient rejects with a permanent MailSendError carrying the reply', async () => {
    const transport = createMailTransport(config());
    try {
      const error = await transport
        .send({
          envelope: { from: 'bounces@news.example.com', to: ['nobody@example.net'] },
          raw: 'From: newsletter@news.example.com\r\nTo: nobody@example.net\r\nSubject: t\r\n\r\nhi\r\n',
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(MailSendError);
      expect((error as MailSendError).failure).toMatchObject({ kind: 'permanent', smtpCode: 550 });
      expect((error as MailSendError).reply).toContain('550');
    } finally {
      await transport.close();
    }
  });

  it('a server that is not there rejects with a temporary MailSendError', async () => {
    const transport = createMailTransport(config({ SMTP_URL: 'smtp://127.0.0.1:1' }));
    try {
      const error = await transport
        .send({ envelope: { from: 'a@news.example.com', to: ['b@example.net'] }, raw: 'x' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(MailSendError);
      expect((error as MailSendError).failure).toMatchObject({ kind: 'temporary', smtpCode: null });
      expect((error as MailSendError).reply).toMatch(/ECONNREFUSED/);
    } finally {
      await transport.close();
    }
  });
});
