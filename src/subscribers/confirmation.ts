// The double opt-in mail: a signed, expiring confirm link, composed with nodemailer's
// MailComposer and handed to the delivery transport (SMTP_URL or the outbox).
import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Config } from '../config/index.ts';
import { senderParts } from '../delivery/message.ts';
import type { MailTransport, OutgoingMessage } from '../delivery/transport.ts';
import { signToken } from '../tokens/index.ts';

type MailConfig = Pick<
  Config,
  'HERALD_SECRET' | 'PUBLIC_URL' | 'MAIL_FROM' | 'POSTAL_ADDRESS' | 'CONFIRM_TTL_HOURS'
>;

export interface ConfirmationRecipient {
  subscriberId: number;
  email: string;
  name: string | null;
}

function baseUrl(config: Pick<Config, 'PUBLIC_URL'>): string {
  return config.PUBLIC_URL.replace(/\/+$/, '');
}

/** The signed link that confirms a subscription; it expires after CONFIRM_TTL_HOURS. */
export function confirmationLink(
  config: MailConfig,
  subscriberId: number,
  now: Date = new Date(),
): string {
  const expiresAt = new Date(now.getTime() + config.CONFIRM_TTL_HOURS * 3_600_000);
  const token = signToken(config.HERALD_SECRET, 'confirm', { subscriberId, expiresAt });
  return `${baseUrl(config)}/confirm?token=${token}`;
}

/** The signed link to a subscriber's preference centre (no expiry, like those in newsletters). */
export function preferencesLink(config: MailConfig, subscriberId: number): string {
  const token = signToken(config.HERALD_SECRET, 'preferences', { subscriberId });
  return `${baseUrl(config)}/preferences?token=${token}`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Builds the raw confirmation message (text + HTML) and its envelope. */
export async function buildConfirmation(
  config: MailConfig,
  recipient: ConfirmationRecipient,
  now: Date = new Date(),
): Promise<OutgoingMessage> {
  const link = confirmationLink(config, recipient.subscriberId, now);
  const { address, domain } = senderParts(config.MAIL_FROM);
  const messageId = `<confirm.${randomUUID()}@${domain}>`;
  const greeting = recipient.name ? `Hello ${recipient.name},` : 'Hello,';
  const hours = config.CONFIRM_TTL_HOURS;
  const text = [
    greeting,
    '',
    'Please confirm your subscription to the Herald newsletter by opening this link:',
    '',
    link,
    '',
    `The link works for ${hours} hours. If you did not ask to subscribe, ignore this`,
    'message: you will not hear from us again.',
    '',
    '--',
    config.POSTAL_ADDRESS,
  ].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font-family:sans-serif;line-height:1.5">
<p>${escapeHtml(greeting)}</p>
<p>Please confirm your subscription to the Herald newsletter.</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:12px 20px;background:#1a4d8f;color:#fff;text-decoration:none;border-radius:4px">Confirm my subscription</a></p>
<p>Or open this address: <br>${escapeHtml(link)}</p>
<p>The link works for ${hours} hours. If you did not ask to subscribe, ignore this message: you will not hear from us again.</p>
<p style="color:#666;font-size:12px">${escapeHtml(config.POSTAL_ADDRESS)}</p>
</body></html>`;
  const composer = new MailComposer({
    from: config.MAIL_FROM,
    to: recipient.name ? { name: recipient.name, address: recipient.email } : recipient.email,
    subject: 'Please confirm your subscription',
    messageId,
    date: now,
    text,
    html,
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  const raw = await composer.compile().build();
  return { envelope: { from: address, to: [recipient.email] }, raw, messageId };
}

/**
 * Sends one confirmation mail through the transport. Kept behind this one function so the
 * sending can move onto the delivery queue without touching the callers.
 */
export async function sendConfirmation(
  config: MailConfig,
  transport: MailTransport,
  recipient: ConfirmationRecipient,
  now: Date = new Date(),
): Promise<{ response: string }> {
  return transport.send(await buildConfirmation(config, recipient, now));
}

/**
 * Sends confirmations one after another (imports with --pending); a failed send is counted
 * and reported through `onError`, never thrown, so one bad address does not stop the rest.
 */
export async function sendConfirmations(
  config: MailConfig,
  transport: MailTransport,
  recipients: readonly ConfirmationRecipient[],
  onError: (recipient: ConfirmationRecipient, error: unknown) => void = () => {},
): Promise<{ sent: number; failed: number }> {
  let sent = 0;
  let failed = 0;
  for (const recipient of recipients) {
    try {
      await sendConfirmation(config, transport, recipient);
      sent += 1;
    } catch (error) {
      failed += 1;
      onError(recipient, error);
    }
  }
  return { sent, failed };
}
