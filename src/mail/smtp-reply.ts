// How an SMTP outcome is classified: a pure decision, tested without a server.

/** What a failure's reply says in codes alone (safe to log: no address, no free text). */
export interface ReplyCodes {
  /** The basic reply code (450, 550, …); null for connection-level failures. */
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

interface SmtpLikeError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

/** An enhanced status right after the basic code (`450 4.2.0 …`, `550-5.1.1 …`). */
const ENHANCED_STATUS = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

/** Classifies an error from nodemailer (or the outbox) as temporary or permanent. */
export function classifySendError(error: unknown): SendFailure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SmtpLikeError;
  const reply = (e.response ?? e.message ?? String(error)).slice(0, 500);
  const code = typeof e.responseCode === 'number' ? e.responseCode : null;
  const codes: ReplyCodes = {
    smtpCode: code,
    enhancedStatus: ENHANCED_STATUS.exec(e.response ?? '')?.[1] ?? null,
  };
  if (code !== null && code >= 500 && code < 600) {
    return { kind: 'permanent', reply, ...codes };
  }
  // 4xx and every connection-level failure (no reply code) are worth another try.
  return {
    kind: 'temporary',
    reply: code !== null ? reply : `${e.code ?? 'ERROR'}: ${reply}`,
    ...codes,
  };
}
