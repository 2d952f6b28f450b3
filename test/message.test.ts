// Message assembly: nodemailer's headers byte for byte and its bodies once decoded (the spliced
// base64 restarts lines at each personalised value), parseable, safe headers, DKIM verifies.
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  composeWithNodemailer,
  createMessageBuilder,
  type Recipient,
} from '../src/delivery/message.ts';
import { type CompiledNewsletter, compileNewsletter } from '../src/templates/index.ts';
import { verifyToken } from '../src/tokens/index.ts';
import { alertInput, digestInput, testConfig } from './helpers/newsletter.ts';

const fixed = {
  now: () => new Date('2026-03-01T08:30:00Z'),
  baseBoundary: 'f1xedb0undary',
  uniqueId: () => 'abcdef012345',
};

const tricky: Recipient[] = [
  {
    subscriberId: 1,
    email: 'anna@example.com',
    name: 'Anna',
    followedTopicNames: ['Russia-China relations'],
  },
  {
    subscriberId: 2,
    email: 'zoe@example.org',
    name: 'Zoë Ünïcode 日本語',
    followedTopicNames: ['China'],
  },
  {
    subscriberId: 3,
    email: 'x@example.net',
    name: '<script>alert(1)</script>',
    followedTopicNames: [],
  },
  {
    subscriberId: 4,
    email: 'eve@example.com',
    name: 'Eve\r\nBcc: x@evil.test',
    followedTopicNames: ['A', 'B', 'C'],
  },
  {
    subscriberId: 5,
    email: 'long@example.com',
    name: `${'L'.repeat(40)} ${'Ö'.repeat(120)}`,
    followedTopicNames: ['Russia-China relations'],
  },
  {
    subscriberId: 6,
    email: 'quote@example.com',
    name: 'O"Brien, \\Pat; {{x}}',
    followedTopicNames: ['{{y}}'],
  },
  { subscriberId: 7, email: 'noname@example.com', name: null, followedTopicNames: [] },
];

const context = { campaignId: 42, kind: 'campaign' } as const;

/** A raw message's header block, and its MIME parts' headers and decoded bodies. */
function anatomy(raw: Buffer): { head: string; parts: Array<{ headers: string; body: string }> } {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const boundary = /boundary="([^"]+)"/.exec(text.slice(0, split))![1]!;
  const parts = text
    .slice(split + 4)
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const end = part.indexOf('\r\n\r\n');
      const body = part.slice(end + 4).replace(/\s+/g, '');
      return {
        headers: part.slice(0, end),
        body: Buffer.from(body, 'base64').toString('utf8'),
      };
    });
  return { head: text.slice(0, split), parts };
}

describe('message assembly', () => {
  const config = testConfig();
  let alert: CompiledNewsletter;
  let digest: CompiledNewsletter;
  beforeAll(async () => {
    alert = await compileNewsletter(alertInput(), config);
    digest = await compileNewsletter(digestInput(), config);
  });

  it('is what nodemailer MailComposer builds (headers byte for byte, bodies decoded), for tricky recipients', async () => {
    for (const compiled of [alert, digest]) {
      const fast = createMessageBuilder(compiled, context, config, fixed);
      const reference = composeWithNodemailer(compiled, context, config, fixed);
      for (const recipient of tricky) {
        const a = fast(recipient);
        const b = await reference(recipient);
        const [ours, theirs] = [anatomy(a.raw), anatomy(b.raw)];
        expect(ours.head).toBe(theirs.head);
        expect(ours.parts).toHaveLength(2);
        expect(ours.parts).toEqual(theirs.parts);
        expect(a.envelope).toEqual(b.envelope);
      }
    }
  });

  it('parses with mailparser: both parts, no placeholders, compliance headers', async () => {
    const build = createMessageBuilder(alert, context, config, fixed);
    for (const recipient of tricky) {
      const message = build(recipient);
      const raw = message.raw.toString('utf8');
      expect(raw).not.toMatch(/\nBcc:/i);
      const parsed = await simpleParser(message.raw);
      expect(parsed.html).toBeTruthy();
      expect(parsed.text).toBeTruthy();
      const html = parsed.html as string;
      const text = parsed.text as string;
      for (const part of [html, text, parsed.subject ?? '']) {
        expect(part).not.toContain('{{');
        expect(part).not.toContain('}}');
      }
      expect(text).not.toMatch(/<\/?(div|p|a|table|span|td)\b|&[a-z]+;|&#\d+;/i);
      expect(text).toContain('Russia’s top diplomat Sergei Lavrov arrived in Beijing');
      expect(text).toMatch(/Unsubscribe:\s+https:\/\/news\.example\.com\/unsubscribe\?token=/);
      expect(text).toMatch(/preferences:\s+https:\/\/news\.example\.com\/preferences\?token=/);
      expect(html).toContain('Herald Newsroom, 1 Example Street');
      expect(html).not.toContain('<script>alert(1)');
      expect(parsed.bcc).toBeUndefined();
      expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0]?.address : '').toBe(
        recipient.email,
      );
      expect(parsed.messageId).toBe(message.messageId);
      expect(message.messageId).toMatch(/@news\.example\.com>$/);
      const unsub = raw
        .match(/^List-Unsubscribe:((?:.*)(?:\r\n .*)*)/m)?.[1]
        ?.replace(/\r\n /g, ' ')
        .trim();
      expect(raw.match(/^List-Unsubscribe:/gm)).toHaveLength(1);
      expect(unsub).toMatch(
        /^<https:\/\/news\.example\.com\/unsubscribe\?token=[\w.-]+>, <mailto:unsubscribe\+[\w.-]+@news\.example\.com\?subject=unsubscribe>$/,
      );
      expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
      expect(raw).toMatch(/^List-ID: Herald News <campaign\.news\.example\.com>\r$/m);
      expect(raw).toMatch(/^Feedback-ID: 42:campaign:herald:news\.example\.com\r$/m);
      // Tokens in links verify and name this subscriber and campaign.
      const token = unsub!.match(/token=([\w.-]+)>/)![1]!;
      const claims = verifyToken(config.HERALD_SECRET, 'unsubscribe', token);
      expect(claims).toMatchObject({
        ok: true,
        claims: { subscriberId: recipient.subscriberId, campaignId: 42 },
      });
      // VERP envelope sender carries a bounce token for subscriber + campaign.
      const verp = message.envelope.from.match(/^bounces\+([\w.-]+)@news\.example\.com$/);
      expect(verp).not.toBeNull();
      expect(verifyToken(config.HERALD_SECRET, 'bounce', verp![1]!)).toMatchObject({
        ok: true,
        claims: { subscriberId: recipient.subscriberId, campaignId: 42 },
      });
      expect(message.envelope.to).toEqual([recipient.email]);
    }
  });

  it('escapes a <script> name in HTML and shows non-ASCII names intact', async () => {
    const build = createMessageBuilder(alert, context, config, fixed);
    const script = await simpleParser(build(tricky[2]!).raw);
    expect(script.html).toContain('Hello &lt;script&gt;alert(1)&lt;/script&gt;,');
    const zoe = await simpleParser(build(tricky[1]!).raw);
    expect(zoe.html).toContain('Hello Zoë Ünïcode 日本語,');
    expect(zoe.to && 'value' in zoe.to ? zoe.to.value[0]?.name : '').toBe('Zoë Ünïcode 日本語');
    const eve = await simpleParser(build(tricky[3]!).raw);
    expect(eve.headers.has('bcc')).toBe(false);
    expect(eve.text).toContain('Hello Eve Bcc: x@evil.test,');
    expect(eve.text).toContain('because you follow A, B and C.');
  });

  describe('DKIM', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const dkimConfig = testConfig({
      DKIM_DOMAIN: 'news.example.com',
      DKIM_SELECTOR: 'herald',
      DKIM_PRIVATE_KEY: pem,
    });
    /** mailauth's verdict on a raw message, with the test key published. */
    const verify = async (raw: Buffer) => {
      const result = await dkimVerify(raw, {
        resolver: async (name: string, rr: string) => {
          if (name === 'herald._domainkey.news.example.com' && rr === 'TXT')
            return [[`v=DKIM1; k=rsa; p=${spki}`]];
          throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        },
      } as Parameters<typeof dkimVerify>[1]);
      return result.results[0]?.status.result;
    };
    const withoutSignature = (raw: Buffer) =>
      raw.toString('latin1').replace(/^DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*/m, '');
    const tag = (raw: Buffer, name: string) =>
      raw
        .toString('latin1')
        .match(new RegExp(`^DKIM-Signature:[\\s\\S]*?\\b${name}=([^;]+);`, 'm'))![1]!
        .replace(/\s+/g, '');

    it('signs: verifies, same headers and decoded bodies as nodemailer, h= covers the compliance headers', async () => {
      const compiled = await compileNewsletter(alertInput(), dkimConfig);
      const fast = createMessageBuilder(compiled, context, dkimConfig, fixed);
      const reference = composeWithNodemailer(compiled, context, dkimConfig, fixed);
      for (const recipient of tricky.slice(0, 4)) {
        const message = fast(recipient);
        const nodemailerMessage = (await reference(recipient)).raw;
        // nodemailer cannot over-sign, so its DKIM-Signature field differs; its base64 line
        // layout differs too (so does bh=), the decoded bodies do not.
        const ours = anatomy(Buffer.from(withoutSignature(message.raw), 'latin1'));
        const theirs = anatomy(Buffer.from(withoutSignature(nodemailerMessage), 'latin1'));
        expect(ours.head).toBe(theirs.head);
        expect(ours.parts).toEqual(theirs.parts);
        expect(await verify(message.raw)).toBe('pass');
        expect(await verify(nodemailerMessage)).toBe('pass');
        const h = tag(message.raw, 'h').toLowerCase().split(':');
        expect(h).toEqual(
          expect.arrayContaining(['list-unsubscribe-post', 'feedback-id', 'to', 'list-id']),
        );
        // Over-signed: named once more than the message carries them.
        for (const name of ['from', 'subject', 'list-unsubscribe', 'list-unsubscribe-post'])
          expect(
            h.filter((field) => field === name),
            name,
          ).toHaveLength(2);
      }
    });

    it('over-signs: a header added after signing fails verification', async () => {
      const compiled = await compileNewsletter(alertInput(), dkimConfig);
      const message = createMessageBuilder(compiled, context, dkimConfig, fixed)(tricky[0]!);
      expect(await verify(message.raw)).toBe('pass');
      const raw = message.raw.toString('latin1');
      const added = (header: string) => {
        // Inserted right after the signature, as a relay prepending a header would.
        const at = raw.indexOf('\r\nList-Unsubscribe-Post:') + 2;
        return Buffer.from(`${raw.slice(0, at)}${header}\r\n${raw.slice(at)}`, 'latin1');
      };
      for (const header of [
        'List-Unsubscribe: <https://evil.example/unsubscribe>',
        'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
        'Subject: Urgent: verify your account',
        'From: Herald News <newsletter@evil.example>',
      ]) {
        expect(await verify(added(header)), header).toBe('fail');
      }
      // A header outside h= may be added (the check above can pass).
      expect(await verify(added('X-Relayed-By: mx.example.net'))).toBe('pass');
    });
  });
});
