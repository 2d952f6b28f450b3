// Sender set-up checks run when a long-lived process starts: settings that make mailbox
// providers distrust or refuse Herald's mail, or that break one-click unsubscribe.
import { type Config, envSchema } from '../config/index.ts';
import { senderParts } from './message.ts';

export interface SenderWarning {
  /** Stable name for alerts and tests. */
  check:
    | 'dkim-alignment'
    | 'dkim-rewritten'
    | 'one-click-http'
    | 'postal-placeholder'
    | 'localhost-sender';
  message: string;
}

/** The POSTAL_ADDRESS default, a placeholder no real sender should ship. */
const PLACEHOLDER_ADDRESS = envSchema.shape.POSTAL_ADDRESS.parse(undefined);

/**
 * Whether the DKIM d= domain aligns with the From domain in DMARC's relaxed sense. Without the
 * public-suffix list this reads "same domain, or one a subdomain of the other", which is what
 * matters in practice (news.example.com signed by example.com, or the reverse).
 */
function aligned(fromDomain: string, dkimDomain: string): boolean {
  const from = fromDomain.toLowerCase();
  const d = dkimDomain.toLowerCase().replace(/\.$/, '');
  return from === d || from.endsWith(`.${d}`) || d.endsWith(`.${from}`);
}

/** Returns what is wrong with the sender settings (empty when nothing is); reads no I/O. */
export function senderWarnings(
  config: Pick<Config, 'MAIL_FROM' | 'PUBLIC_URL' | 'POSTAL_ADDRESS' | 'dkim'> &
    Partial<Pick<Config, 'mailTransport'>>,
): SenderWarning[] {
  const warnings: SenderWarning[] = [];
  const { domain } = senderParts(config.MAIL_FROM);
  if (config.dkim && !aligned(domain, config.dkim.domain)) {
    warnings.push({
      check: 'dkim-alignment',
      message: `DKIM_DOMAIN ${config.dkim.domain} does not align with the MAIL_FROM domain ${domain}: DMARC fails and mailbox providers may reject or junk the mail`,
    });
  }
  if (config.dkim && config.mailTransport === 'ses') {
    warnings.push({
      check: 'dkim-rewritten',
      message:
        'MAIL_TRANSPORT is ses, which rewrites the Message-ID and Date headers that Herald’s DKIM signature covers, so that signature fails: unset DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY and enable Easy DKIM for your domain in SES',
    });
  }
  if (new URL(config.PUBLIC_URL).protocol !== 'https:') {
    warnings.push({
      check: 'one-click-http',
      message: `PUBLIC_URL is ${new URL(config.PUBLIC_URL).origin}: one-click unsubscribe (RFC 8058) needs https:// links, so Gmail and Yahoo will not offer it`,
    });
  }
  if (config.POSTAL_ADDRESS.trim() === PLACEHOLDER_ADDRESS) {
    warnings.push({
      check: 'postal-placeholder',
      message:
        'POSTAL_ADDRESS is the placeholder: bulk mail must show the sender’s real postal address (CAN-SPAM)',
    });
  }
  if (domain === 'localhost' || domain.endsWith('.localhost')) {
    warnings.push({
      check: 'localhost-sender',
      message: `MAIL_FROM is on ${domain}, which no receiver can verify or reply to: set MAIL_FROM to your sending domain`,
    });
  }
  return warnings;
}
