// The SES transport against a local stand-in for the SES API v2 (node:http): it checks the
// SigV4 signature and the request, and answers as SES does (2xx accepted, 400 BadRequest and
// 422 permanent, account-wide 4xx, 429 and 5xx temporary).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.ts';
import { createMessageBuilder } from '../src/delivery/message.ts';
import { createMailTransport } from '../src/mail/factory.ts';
import { senderWarnings } from '../src/mail/sender-checks.ts';
import { MailSendError } from '../src/mail/transport.ts';
import { compileNewsletter } from '../src/templates/index.ts';
import { alertInput, testConfig } from './helpers/newsletter.ts';

const ACCESS_KEY = 'AKIDHERALDTEST0001';
const SECRET_KEY = 'stand-in-secret-key-never-sent-0123456789';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Whether the Authorization header is what signing the same request with the key gives. */
  signatureValid: boolean;
}

/** What the stand-in answers next: a status, an error type and a JSON body. */
let answer: { status: number; errorType?: string; body: Record<string, unknown> } = {
  status: 200,
  body: { MessageId: 'ses-0001' },
};
const received: Received[] = [];
let server: Server;
let endpoint: string;

function resign(request: IncomingMessage, body: string): string {
  const signed = aws4.sign(
    {
      method: request.method,
      host: request.headers.host,
      path: request.url,
      service: 'ses',
      region: 'eu-west-1',
      headers: {
        ...(request.headers['content-type']
          ? { 'Content-Type': request.headers['content-type'] }
          : {}),
        'X-Amz-Date': String(request.headers['x-amz-date']),
      },
      body: body === '' ? undefined : body,
    },
    { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  );
  return String((signed.headers as Record<string, string>).Authorization);
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
        signatureValid: request.headers.authorization === resign(request, body),
      });
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (answer.errorType) headers['x-amzn-ErrorType'] = `${answer.errorType}:http://internal`;
      response.writeHead(answer.status, headers);
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

function sesConfig(extra: Record<string, string> = {}) {
  return parseConfig({
    MAIL_TRANSPORT: 'ses',
    SES_REGION: 'eu-west-1',
    SES_ACCESS_KEY_ID: ACCESS_KEY,
    SES_SECRET_ACCESS_KEY: SECRET_KEY,
    SES_ENDPOINT: endpoint,
    SES_CONFIGURATION_SET: 'herald-newsletters',
    ...extra,
  });
}

describe('SES transport', () => {
  it('posts the built MIME as Content.Raw, signed with SigV4, and reports the MessageId', async () => {
    const newsletter = testConfig();
    const compiled = await compileNewsletter(alertInput(), newsletter);
    const built = createMessageBuilder(
      compiled,
      { campaignId: 9, kind: 'campaign' },
      newsletter,
    )({
      subscriberId: 3,
      email: 'ana@example.net',
      name: 'Ana',
      followedTopicNames: ['China'],
      tokenKey: '0123456789abcdef',
    });
    answer = { status: 200, body: { MessageId: 'ses-0001' } };
    received.length = 0;
    const transport = createMailTransport(sesConfig());
    try {
      expect(transport).toMatchObject({ name: 'ses', concurrency: 10 });
      const result = await transport.send(built);
      expect(result.response).toBe('200 accepted by SES as ses-0001');
    } finally {
      await transport.close();
    }
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v2/email/outbound-emails');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDHERALDTEST0001\/\d{8}\/eu-west-1\/ses\/aws4_request, SignedHeaders=[a-z;-]*host[a-z;-]*x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(request.signatureValid).toBe(true);
    // The secret signs; it never travels.
    expect(JSON.stringify(request.headers) + request.body).not.toContain(SECRET_KEY);
    const body = JSON.parse(request.body);
    expect(body.Destination).toEqual({ ToAddresses: ['ana@example.net'] });
    expect(body.FeedbackForwardingEmailAddress).toBe(built.envelope.from);
    expect(body.ConfigurationSetName).toBe('herald-newsletters');
    const raw = Buffer.from(body.Content.Raw.Data, 'base64');
    // Byte for byte what the builder made: compliance headers intact.
    expect(raw.equals(built.raw)).toBe(true);
    // Headers unfolded, as a receiver reads them.
    const head = raw
      .toString('latin1')
      .split('\r\n\r\n')[0]!
      .replace(/\r\n[ \t]+/g, ' ');
    expect(head).toMatch(/^List-Unsubscribe: <https:\/\/news\.example\.com\/unsubscribe\?token=/m);
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
  });

  const refusals: Array<{ status: number; errorType?: string; kind: 'temporary' | 'permanent' }> = [
    { status: 400, errorType: 'BadRequestException', kind: 'permanent' },
    { status: 422, errorType: 'ValidationException', kind: 'permanent' },
    { status: 400, errorType: 'SendingPausedException', kind: 'temporary' },
    { status: 400, errorType: 'AccountSuspendedException', kind: 'temporary' },
    { status: 400, errorType: 'MailFromDomainNotVerifiedException', kind: 'temporary' },
    { status: 400, errorType: 'MessageRejected', kind: 'temporary' },
    { status: 403, errorType: 'SignatureDoesNotMatch', kind: 'temporary' },
    { status: 404, errorType: 'NotFoundException', kind: 'temporary' },
    { status: 429, errorType: 'TooManyRequestsException', kind: 'temporary' },
    { status: 500, errorType: 'InternalFailure', kind: 'temporary' },
    { status: 503, kind: 'temporary' },
  ];
  it.each(refusals)('$status $errorType rejects as $kind', async ({ status, errorType, kind }) => {
    answer = { status, errorType, body: { message: `refused by the stand-in (${status})` } };
    const transport = createMailTransport(sesConfig());
    try {
      const error = await transport
        .send({ envelope: { from: 'bounces@news.example.com', to: ['b@example.net'] }, raw: 'x' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(MailSendError);
      expect((error as MailSendError).failure).toEqual({
        kind,
        smtpCode: status,
        enhancedStatus: null,
        reply: `${status} ${errorType ?? 'Error'}: refused by the stand-in (${status})`,
      });
    } finally {
      await transport.close();
    }
  });

  it('an endpoint that is not there rejects as temporary', async () => {
    const transport = createMailTransport(sesConfig({ SES_ENDPOINT: 'http://127.0.0.1:1' }));
    try {
      const error = await transport
        .send({ envelope: { from: 'a@news.example.com', to: ['b@example.net'] }, raw: 'x' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(MailSendError);
      expect((error as MailSendError).kind).toBe('temporary');
      expect((error as MailSendError).reply).toMatch(/ECONNREFUSED/);
    } finally {
      await transport.close();
    }
  });

  it('verify reads the account: ready when sending is enabled, a reason when paused', async () => {
    const transport = createMailTransport(sesConfig());
    try {
      received.length = 0;
      answer = { status: 200, body: { SendingEnabled: true } };
      await expect(transport.verify()).resolves.toBeUndefined();
      expect(received[0]).toMatchObject({
        method: 'GET',
        url: '/v2/email/account',
        signatureValid: true,
      });
      answer = { status: 200, body: { SendingEnabled: false } };
      await expect(transport.verify()).rejects.toThrow('sending is paused for this SES account');
      answer = {
        status: 403,
        errorType: 'UnrecognizedClientException',
        body: { message: 'bad key' },
      };
      await expect(transport.verify()).rejects.toThrow(/403/);
    } finally {
      await transport.close();
    }
  });

  it('config names the missing SES variable, and warns that SES breaks Herald’s own DKIM', () => {
    expect(() => parseConfig({ MAIL_TRANSPORT: 'ses', SES_REGION: 'eu-west-1' })).toThrow(
      /^Invalid SES_ACCESS_KEY_ID: is required when MAIL_TRANSPORT is ses$/,
    );
    expect(() => parseConfig({ MAIL_TRANSPORT: 'ses', SES_REGION: 'Ireland' })).toThrow(
      /^Invalid SES_REGION: /,
    );
    expect(sesConfig().ses?.endpoint).toBe(endpoint);
    expect(parseConfig({ ...sesEnvWithout('SES_ENDPOINT') }).ses?.endpoint).toBe(
      'https://email.eu-west-1.amazonaws.com',
    );
    const signing = sesConfig({
      PUBLIC_URL: 'https://news.example.com',
      MAIL_FROM: 'News <news@example.com>',
      POSTAL_ADDRESS: '1 Real Street, Town',
      DKIM_DOMAIN: 'example.com',
      DKIM_SELECTOR: 's1',
      DKIM_PRIVATE_KEY: 'key',
    });
    expect(senderWarnings(signing).map((w) => w.check)).toEqual(['dkim-rewritten']);
  });
});

function sesEnvWithout(name: string): Record<string, string> {
  const env: Record<string, string> = {
    MAIL_TRANSPORT: 'ses',
    SES_REGION: 'eu-west-1',
    SES_ACCESS_KEY_ID: ACCESS_KEY,
    SES_SECRET_ACCESS_KEY: SECRET_KEY,
    SES_ENDPOINT: endpoint,
  };
  delete env[name];
  return env;
}
