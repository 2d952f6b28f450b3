// How a send outcome is classified: a pure decision, tested without a server.
import { MailSendError, type ReplyCodes, type SendFailure } from './transport.ts';

export type { ReplyCodes, SendFailure } from './transport.ts';

interface SmtpLikeError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

/** An enhanced status right after the basic code (`450 4.2.0 …`, `550-5.1.1 …`). */
const ENHANCED_STATUS = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

/**
 * Classifies a send error as temporary or permanent: a MailSendError keeps its own verdict;
 * an error from nodemailer (or the outbox) is read by its reply code.
 */
export function classifySendError(error: unknown): SendFailure {
  if (error instanceof MailSendError) return error.failure;
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

/** Turns any send error into the port's typed failure (a MailSendError passes through). */
export function toMailSendError(error: unknown): MailSendError {
  return error instanceof MailSendError
    ? error
    : new MailSendError(classifySendError(error), { cause: error });
}
