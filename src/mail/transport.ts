// The mail port: where built messages go. One file per transport under transports/, chosen
// by config in factory.ts; callers see only this interface and never branch on the transport.

/** One built message on its way out: the envelope and the raw MIME, DKIM signature included. */
export interface OutgoingMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer | string;
  messageId?: string;
}

/** What a transport reports for an accepted message (the server's or the API's reply). */
export interface SendResult {
  response: string;
}

/** What a failure's reply says in codes alone (safe to log: no address, no free text). */
export interface ReplyCodes {
  /** The basic reply code (450, 550, …; an HTTP status for API transports); null for connection-level failures. */
  smtpCode: number | null;
  /** The RFC 3463 enhanced status (`4.2.0`, `5.1.1`) when the reply carries one. */
  enhancedStatus: string | null;
}

export type SendFailure = ReplyCodes &
  (
    | /** 4xx, a dropped connection, a timeout: try again later. */
    { kind: 'temporary'; reply: string }
    /** 5xx: the address is bad or refused; never retry, suppress. */
    | { kind: 'permanent'; reply: string }
  );

/**
 * How `send` rejects: a typed temporary or permanent failure carrying the reply. The message
 * holds codes only; the reply (which may name the address) stays in `reply`.
 */
export class MailSendError extends Error {
  readonly kind: SendFailure['kind'];
  readonly reply: string;
  readonly smtpCode: number | null;
  readonly enhancedStatus: string | null;

  constructor(failure: SendFailure, options?: { cause?: unknown }) {
    super(
      `${failure.kind} send failure (${failure.smtpCode ?? 'no reply code'}${failure.enhancedStatus ? ` ${failure.enhancedStatus}` : ''})`,
      options,
    );
    this.name = 'MailSendError';
    this.kind = failure.kind;
    this.reply = failure.reply;
    this.smtpCode = failure.smtpCode;
    this.enhancedStatus = failure.enhancedStatus;
  }

  /** The failure as plain data. */
  get failure(): SendFailure {
    const codes = { smtpCode: this.smtpCode, enhancedStatus: this.enhancedStatus };
    return { kind: this.kind, reply: this.reply, ...codes };
  }
}

export interface MailTransport {
  /** Which transport this is (`smtp`, `outbox`, `ses`): for logs and metrics. */
  readonly name: string;
  /** What readiness and error messages call it: the setting that points it, never a secret. */
  readonly label: string;
  /** Messages it can usefully keep in flight at once (the send lanes of a batch). */
  readonly concurrency: number;
  /** Hands one message over; resolves with the reply, rejects with a MailSendError. */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Checks that the transport can accept mail (SMTP: connect and greet). */
  verify(): Promise<void>;
  /** Releases its connections (SMTP: QUIT idle sessions); resolves once they have ended. */
  close(): Promise<void>;
}
