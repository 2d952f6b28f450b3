// How an SMTP outcome is classified: a pure decision, tested without a server.

export type SendFailure =
  /** 4xx, a dropped connection, a timeout: try again later. */
  | { kind: 'temporary'; reply: string }
  /** 5xx: the address is bad or refused; never retry, suppress. */
  | { kind: 'permanent'; reply: string };

interface SmtpLikeError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

/** Classifies an error from nodemailer (or the outbox) as temporary or permanent. */
export function classifySendError(error: unknown): SendFailure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SmtpLikeError;
  const reply = (e.response ?? e.message ?? String(error)).slice(0, 500);
  const code = e.responseCode;
  if (typeof code === 'number' && code >= 500 && code < 600) return { kind: 'permanent', reply };
  // 4xx and every connection-level failure (no reply code) are worth another try.
  return {
    kind: 'temporary',
    reply: typeof code === 'number' ? reply : `${e.code ?? 'ERROR'}: ${reply}`,
  };
}
