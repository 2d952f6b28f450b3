// The Amazon SES transport (MAIL_TRANSPORT=ses): the SES API v2 SendEmail call with the message
// as Content.Raw, so the MIME Herald built (List-Unsubscribe, List-ID, Feedback-ID) goes out as
// it is. Requests are signed with AWS Signature Version 4 (the aws4 library). SES rewrites
// Message-ID and Date, which Herald's own DKIM signature covers: with SES, use SES's Easy DKIM
// for the sending domain (sender-checks warns when DKIM_* is set as well).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import aws4 from 'aws4';
import type { SesSettings } from '../../config/index.ts';
import { timedSend } from '../metrics.ts';
import { toMailSendError } from '../smtp-reply.ts';
import { MailSendError, type MailTransport, type OutgoingMessage } from '../transport.ts';

/** Requests kept in flight (and keep-alive sockets): well under SES's default send rate. */
const SES_CONCURRENCY = 10;
/** A stuck endpoint must not hold a batch forever. */
const SES_TIMEOUT_MS = 30_000;
/** Longest reply body read (an error is a short JSON document). */
const MAX_REPLY_BYTES = 64 * 1024;

interface SesReply {
  status: number;
  /** The error type (`x-amzn-ErrorType`, or the body's `__type`/`code`), e.g. BadRequestException. */
  errorType: string | null;
  body: Record<string, unknown>;
}

/**
 * Whether a refused request is this message's own fault (so the address is suppressed): a 422,
 * or a 400 BadRequestException (e.g. an address SES will not take). Everything else — throttling
 * (429), server errors (5xx), credentials (401/403), a missing configuration set (404) and
 * account-wide refusals (SendingPausedException, AccountSuspendedException,
 * MailFromDomainNotVerifiedException, MessageRejected) — is temporary: retrying is right, and
 * suppressing every recipient of a campaign for an account problem would be wrong.
 */
export function sesFailureKind(
  status: number,
  errorType: string | null,
): 'temporary' | 'permanent' {
  if (status === 422) return 'permanent';
  if (status === 400 && errorType === 'BadRequestException') return 'permanent';
  return 'temporary';
}

/** The typed failure for a non-2xx SES reply: the HTTP status stands in for the reply code. */
function sesFailure(reply: SesReply): MailSendError {
  const message = typeof reply.body.message === 'string' ? reply.body.message : '';
  const text = `${reply.status} ${reply.errorType ?? 'Error'}${message ? `: ${message}` : ''}`;
  return new MailSendError({
    kind: sesFailureKind(reply.status, reply.errorType),
    reply: text.slice(0, 500),
    smtpCode: reply.status,
    enhancedStatus: null,
  });
}

/** Opens the SES transport; requests go out on first use over keep-alive connections. */
export function createSesTransport(settings: SesSettings): MailTransport {
  const endpoint = new URL(settings.endpoint);
  const secure = endpoint.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: SES_CONCURRENCY })
    : new HttpAgent({ keepAlive: true, maxSockets: SES_CONCURRENCY });
  const credentials = {
    accessKeyId: settings.accessKeyId,
    secretAccessKey: settings.secretAccessKey,
    sessionToken: settings.sessionToken,
  };
  const base = endpoint.pathname.replace(/\/+$/, '');

  /** Sends one signed request and reads the reply (never throws for an HTTP status). */
  function call(method: 'GET' | 'POST', path: string, body?: string): Promise<SesReply> {
    const signed = aws4.sign(
      {
        method,
        hostname: endpoint.hostname,
        port: endpoint.port || undefined,
        path: `${base}${path}`,
        service: 'ses',
        region: settings.region,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body,
      },
      credentials,
    );
    return new Promise((resolve, reject) => {
      const request = (secure ? httpsRequest : httpRequest)(
        {
          protocol: endpoint.protocol,
          hostname: endpoint.hostname,
          port: endpoint.port || undefined,
          method,
          path: signed.path,
          headers: signed.headers as Record<string, string>,
          agent,
          timeout: SES_TIMEOUT_MS,
        },
        (response) => readReply(response).then(resolve, reject),
      );
      request.on('timeout', () => {
        request.destroy(
          Object.assign(new Error('SES did not answer in time'), { code: 'ETIMEDOUT' }),
        );
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  return {
    name: 'ses',
    label: 'SES_ENDPOINT',
    concurrency: SES_CONCURRENCY,
    send: (message: OutgoingMessage) =>
      timedSend(async () => {
        const payload = JSON.stringify({
          Destination: { ToAddresses: message.envelope.to },
          // Bounces and complaints SES forwards by mail go to the VERP address, as with SMTP.
          FeedbackForwardingEmailAddress: message.envelope.from,
          Content: { Raw: { Data: Buffer.from(message.raw).toString('base64') } },
          ...(settings.configurationSet ? { ConfigurationSetName: settings.configurationSet } : {}),
        });
        let reply: SesReply;
        try {
          reply = await call('POST', '/v2/email/outbound-emails', payload);
        } catch (error) {
          // No reply at all (refused, reset, timed out): temporary.
          throw toMailSendError(error);
        }
        if (reply.status < 200 || reply.status > 299) throw sesFailure(reply);
        const id = typeof reply.body.MessageId === 'string' ? reply.body.MessageId : 'unknown';
        return { response: `${reply.status} accepted by SES as ${id}` };
      }),
    async verify() {
      const reply = await call('GET', '/v2/email/account');
      if (reply.status < 200 || reply.status > 299) throw sesFailure(reply);
      if (reply.body.SendingEnabled === false) {
        throw new Error('sending is paused for this SES account');
      }
    },
    async close() {
      agent.destroy();
    },
  };
}

/** Reads a reply's status, error type and JSON body (an unreadable body counts as empty). */
async function readReply(response: IncomingMessage): Promise<SesReply> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size <= MAX_REPLY_BYTES) chunks.push(chunk as Buffer);
  }
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's HTML error page): the status alone decides.
  }
  const header = response.headers['x-amzn-errortype'];
  const named =
    (typeof header === 'string' ? header : undefined) ??
    (typeof body.__type === 'string' ? body.__type : undefined) ??
    (typeof body.code === 'string' ? body.code : undefined);
  // `x-amzn-ErrorType` may carry a suffix (`BadRequestException:http://…`), __type a prefix (`…#Name`).
  const errorType = named ? (named.split(':')[0]!.split('#').pop() ?? null) : null;
  return { status: response.statusCode ?? 0, errorType, body };
}
