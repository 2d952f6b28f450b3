// One message, one outcome: hands a message to the transport and says what became of it.
import { classifySendError, type ReplyCodes } from '../mail/smtp-reply.ts';

/**
 * What became of one recipient of a batch:
 * sent · bounced (5xx: final, suppress the address) · temporary (4xx or a dropped connection:
 * the row waits for the job's next attempt) · failed (still temporary on the last attempt) ·
 * dropped (not sent: suppressed, no longer active, or held back; `reply` says why when known).
 */
export type MessageOutcome =
  | { status: 'sent'; reply: string }
  | { status: 'bounced' | 'temporary' | 'failed'; reply: string; codes: ReplyCodes }
  | { status: 'dropped'; reply: string | null };

/** What sending needs of a transport: hand a message over, resolve with the server's reply. */
export type SendMessage<Message> = (message: Message) => Promise<{ response: string }>;

/**
 * Sends one message and returns its outcome; never rejects for a send failure (the SMTP reply
 * is classified instead). On the batch's last attempt a temporary failure is `failed`.
 */
export async function sendOne<Message>(
  send: SendMessage<Message>,
  message: Message,
  finalAttempt: boolean,
): Promise<MessageOutcome> {
  try {
    const { response } = await send(message);
    return { status: 'sent', reply: response.slice(0, 500) };
  } catch (error) {
    const failure = classifySendError(error);
    const codes: ReplyCodes = {
      smtpCode: failure.smtpCode,
      enhancedStatus: failure.enhancedStatus,
    };
    if (failure.kind === 'permanent') return { status: 'bounced', reply: failure.reply, codes };
    return { status: finalAttempt ? 'failed' : 'temporary', reply: failure.reply, codes };
  }
}
