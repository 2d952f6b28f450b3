// The double opt-in mail (a signed, expiring confirm link) and the note a known address gets
// instead (a link to its preferences), built by the one mail builder (so DKIM-signed like
// every other mail) and handed to the mail transport.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { createMailBuilder, senderParts } from '../mail/message.ts';
import type { MailTransport, OutgoingMessage, SendResult } from '../mail/transport.ts';
import type { Database } from '../store/schema.ts';
import { signToken } from '../tokens/index.ts';
import { subscriberKeyOf } from '../tokens/subject.ts';

type MailConfig = Pick<
  Config,
  'HERALD_SECRET' | 'PUBLIC_URL' | 'MAIL_FROM' | 'POSTAL_ADDRESS' | 'CONFIRM_TTL_HOURS' | 'dkim'
>;

export interface ConfirmationRecipient {
  subscriberId: number;
  email: string;
  name: string | null;
  /** The subscriber's token key (subscribers.token_key): links without it do not verify. */
  tokenKey: string;
}

/** What a subscribe request for a known address mails its owner instead of changing anything. */
export type OwnerNotice = 'confirm' | 'manage';

function baseUrl(config: Pick<Config, 'PUBLIC_URL'>): string {
  return config.PUBLIC_URL.replace(/\/+$/, '');
}

/** The signed link that confirms a subscription; it expires after CONFIRM_TTL_HOURS. */
export function confirmationLink(
  config: MailConfig,
  recipient: Pick<ConfirmationRecipient, 'subscriberId' | 'tokenKey'>,
  now: Date = new Date(),
): string {
  const expiresAt = new Date(now.getTime() + config.CONFIRM_TTL_HOURS * 3_600_000);
  const token = signToken(config.HERALD_SECRET, 'confirm', {
    subscriberId: recipient.subscriberId,
    subscriberKey: recipient.tokenKey,
    expiresAt,
  });
  return `${baseUrl(config)}/confirm?token=${token}`;
}

/** The signed link to a subscriber's preference centre (no expiry, like those in newsletters). */
export function preferencesLink(
  config: MailConfig,
  recipient: Pick<ConfirmationRecipient, 'subscriberId' | 'tokenKey'>,
): string {
  const token = signToken(config.HERALD_SECRET, 'preferences', {
    subscriberId: recipient.subscriberId,
    subscriberKey: recipient.tokenKey,
  });
  return `${baseUrl(config)}/preferences?token=${token}`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Longest name a greeting carries. */
export const GREETING_NAME_MAX = 40;

/**
 * The name to greet with, or null: these mails go to any address someone typed in, so they
 * carry no text a stranger chose beyond a short plain name (letters, spaces, . ' -) — no
 * digits, no URLs, no markup.
 */
export function greetingName(name: string | null): string | null {
  const trimmed = (name ?? '').normalize('NFC').trim().replace(/\s+/g, ' ');
  if (trimmed === '' || trimmed.length > GREETING_NAME_MAX) return null;
  return /^[\p{L}\p{M}][\p{L}\p{M} .'’-]*$/u.test(trimmed) ? trimmed : null;
}

/** The text of each kind of mail: subject, paragraphs, the button and the link it opens. */
function wording(
  config: MailConfig,
  recipient: ConfirmationRecipient,
  kind: OwnerNotice,
  now: Date,
): { subject: string; intro: string; button: string; link: string; outro: string } {
  if (kind === 'confirm') {
    return {
      subject: 'Please confirm your subscription',
      intro: 'Please confirm your subscription to the Herald newsletter.',
      button: 'Confirm my subscription',
      link: confirmationLink(config, recipient, now),
      outro: `The link works for ${config.CONFIRM_TTL_HOURS} hours. If you did not ask to subscribe, ignore this message: you will not hear from us again.`,
    };
  }
  return {
    subject: 'Your Herald subscription',
    intro:
      'Someone, probably you, asked to subscribe this address to the Herald newsletter. It is already known to us, so nothing was changed. To see or change what you receive, open your preferences.',
    button: 'Manage my preferences',
    link: preferencesLink(config, recipient),
    outro: 'If you did not ask for this, ignore this message: nothing changes.',
  };
}

/** Builds the raw confirmation (or "manage your preferences") message and its envelope. */
export async function buildConfirmation(
  config: MailConfig,
  recipient: ConfirmationRecipient,
  now: Date = new Date(),
  kind: OwnerNotice = 'confirm',
): Promise<OutgoingMessage> {
  const words = wording(config, recipient, kind, now);
  const { address, domain } = senderParts(config.MAIL_FROM);
  const messageId = `<${kind}.${randomUUID()}@${domain}>`;
  const name = greetingName(recipient.name);
  const greeting = name ? `Hello ${name},` : 'Hello,';
  const text = [
    greeting,
    '',
    words.intro,
    '',
    words.link,
    '',
    words.outro,
    '',
    '--',
    config.POSTAL_ADDRESS,
  ].join('\n');
  // The long link wraps anywhere so that it fits a 375 px phone screen.
  const html = `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1"></head><body style="font-family:sans-serif;line-height:1.5;margin:0;padding:16px">
<p>${escapeHtml(greeting)}</p>
<p>${escapeHtml(words.intro)}</p>
<p><a href="${escapeHtml(words.link)}" style="display:inline-block;padding:12px 20px;background:#1a4d8f;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(words.button)}</a></p>
<p>Or open this address:</p>
<p style="word-break:break-all;overflow-wrap:anywhere;font-size:14px"><a href="${escapeHtml(words.link)}" style="color:#1a4d8f">${escapeHtml(words.link)}</a></p>
<p>${escapeHtml(words.outro)}</p>
<p style="color:#666;font-size:12px">${escapeHtml(config.POSTAL_ADDRESS)}</p>
</body></html>`;
  const build = createMailBuilder(
    // Belongs to no list: no List-Unsubscribe; marked automatic so responders stay quiet.
    { subject: words.subject, headers: { 'Auto-Submitted': 'auto-generated' } },
    config,
    { now: () => now },
  );
  return build({
    // The address alone: a display name here would be text a stranger chose.
    to: { name: '', address: recipient.email },
    messageId,
    envelope: { from: address, to: [recipient.email] },
    text,
    html,
  });
}

/**
 * Sends one confirmation (or "manage your preferences") mail through the transport. Kept
 * behind this one function so the sending can move onto the delivery queue without touching
 * the callers.
 */
export async function sendConfirmation(
  config: MailConfig,
  transport: MailTransport,
  recipient: ConfirmationRecipient,
  now: Date = new Date(),
  kind: OwnerNotice = 'confirm',
): Promise<SendResult> {
  return transport.send(await buildConfirmation(config, recipient, now, kind));
}

/**
 * Sends confirmations one after another (imports with --pending); a failed send is counted
 * and reported through `onError`, never thrown, so one bad address does not stop the rest.
 * Each recipient's token key is read from the store.
 */
export async function sendConfirmations(
  db: Kysely<Database>,
  config: MailConfig,
  transport: MailTransport,
  recipients: ReadonlyArray<Omit<ConfirmationRecipient, 'tokenKey'>>,
  onError: (recipient: Omit<ConfirmationRecipient, 'tokenKey'>, error: unknown) => void = () => {},
): Promise<{ sent: number; failed: number }> {
  let sent = 0;
  let failed = 0;
  for (const recipient of recipients) {
    try {
      const tokenKey = await subscriberKeyOf(db, recipient.subscriberId);
      if (tokenKey === null) throw new Error(`subscriber ${recipient.subscriberId} is gone`);
      await sendConfirmation(config, transport, { ...recipient, tokenKey });
      sent += 1;
    } catch (error) {
      failed += 1;
      onError(recipient, error);
    }
  }
  return { sent, failed };
}
