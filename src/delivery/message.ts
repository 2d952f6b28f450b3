// One newsletter message per recipient: signed links, VERP sender, Message-ID and the
// personalised bodies, handed as finished parts to the one mail builder (src/mail/message.ts),
// which encodes and DKIM-signs them. Campaigns, alerts, digests, welcome mails and test sends
// all come through here.
import { randomFillSync } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { createTrackingVars, type TrackingPlan } from '../engagement/tracking.ts';
import { base64Template } from '../mail/base64-splice.ts';
import {
  type BuiltMessage,
  composeWithNodemailer as composeMailWithNodemailer,
  createMailBuilder,
  listHeaders,
  type MailBuilderOptions,
  type MessageParts,
  type MessageShape,
  senderParts,
} from '../mail/message.ts';
import type { CampaignKind } from '../store/schema.ts';
import type { CompiledNewsletter } from '../templates/index.ts';
import { createPersonaliser } from '../templates/personalise.ts';
import { signToken } from '../tokens/index.ts';

export type { BuiltMessage } from '../mail/message.ts';

export interface Recipient {
  subscriberId: number;
  email: string;
  name: string | null;
  followedTopicNames: string[];
  /** The subscriber's token key (subscribers.token_key): without it their links do not verify. */
  tokenKey?: string;
  /** The subscriber consented to open tracking (gets the open image when the plan has it). */
  openTracking?: boolean;
}

export interface MessageContext {
  campaignId: number;
  kind: CampaignKind;
  /** Click and open tracking compiled into the newsletter (src/engagement). */
  tracking?: TrackingPlan;
}

/** Knobs for tests and benches; production uses the defaults. */
export interface BuilderOptions extends MailBuilderOptions {
  /** The random part of each Message-ID. */
  uniqueId?: () => string;
}

/**
 * Returns the per-recipient parts maker for a campaign: signed links, VERP sender, Message-ID,
 * personalised bodies. Shared by the fast builder and the nodemailer reference.
 */
function createPartsMaker(
  compiled: CompiledNewsletter,
  context: MessageContext,
  config: Config,
  options: BuilderOptions,
): (recipient: Recipient) => MessageParts {
  const { domain } = senderParts(config.MAIL_FROM);
  const base = config.PUBLIC_URL.replace(/\/+$/, '');
  const personalise = createPersonaliser(compiled);
  // The static runs of both parts are base64-encoded once for the campaign, not per message.
  const htmlTemplate = base64Template(personalise.runs.html);
  const textTemplate = base64Template(personalise.runs.text);
  const uniqueId = options.uniqueId ?? randomHex12;
  const secret = config.HERALD_SECRET;
  // A preview belongs to no campaign; tokens then carry the subscriber alone.
  const campaignId = context.campaignId > 0 ? context.campaignId : undefined;
  const tracking = context.tracking && createTrackingVars(context.tracking, config);
  return (recipient) => {
    const subscriberKey = recipient.tokenKey;
    const claims = { subscriberId: recipient.subscriberId, campaignId, subscriberKey };
    const unsubscribe = signToken(secret, 'unsubscribe', claims);
    const preferences = signToken(secret, 'preferences', {
      subscriberId: recipient.subscriberId,
      subscriberKey,
    });
    const bounce = signToken(secret, 'bounce', claims);
    const unsubscribeUrl = `${base}/unsubscribe?token=${unsubscribe}`;
    const values = personalise.values({
      name: recipient.name,
      followedTopicNames: recipient.followedTopicNames,
      unsubscribeUrl,
      preferencesUrl: `${base}/preferences?token=${preferences}`,
      ...tracking?.(recipient),
    });
    return {
      to: { name: recipient.name ?? '', address: recipient.email },
      messageId: `<${context.kind}.${context.campaignId}.${recipient.subscriberId}.${uniqueId()}@${domain}>`,
      listUnsubscribe: `<${unsubscribeUrl}>, <mailto:unsubscribe+${unsubscribe}@${domain}?subject=unsubscribe>`,
      envelope: { from: `bounces+${bounce}@${domain}`, to: [recipient.email] },
      html: { template: htmlTemplate, values: values.html },
      text: { template: textTemplate, values: values.text },
    };
  };
}

/** Random bytes drawn in blocks: one randomBytes call per Message-ID cost 4% of a build. */
let randomPool = '';
function randomHex12(): string {
  if (randomPool.length < 12) randomPool = randomFillSync(Buffer.alloc(3_072)).toString('hex');
  const id = randomPool.slice(0, 12);
  randomPool = randomPool.slice(12);
  return id;
}

/** What every message of one campaign shares: its subject and list headers. */
function campaignShape(
  compiled: CompiledNewsletter,
  context: MessageContext,
  config: Config,
): MessageShape {
  return {
    subject: compiled.subject,
    headers: listHeaders({ id: context.campaignId, kind: context.kind }, config.MAIL_FROM),
  };
}

/**
 * Returns a function that builds one recipient's message: per recipient it signs three tokens,
 * renders the precompiled personalisation and hands the parts to the mail builder.
 */
export function createMessageBuilder(
  compiled: CompiledNewsletter,
  context: MessageContext,
  config: Config,
  options: BuilderOptions = {},
): (recipient: Recipient) => BuiltMessage {
  const parts = createPartsMaker(compiled, context, config, options);
  const build = createMailBuilder(campaignShape(compiled, context, config), config, options);
  return (recipient) => build(parts(recipient));
}

/**
 * The reference path: the same parts through nodemailer's MailComposer (and its DKIM signer),
 * the executable definition the fast builder is tested against.
 */
export function composeWithNodemailer(
  compiled: CompiledNewsletter,
  context: MessageContext,
  config: Config,
  options: BuilderOptions = {},
): (recipient: Recipient) => Promise<BuiltMessage> {
  const parts = createPartsMaker(compiled, context, config, options);
  const compose = composeMailWithNodemailer(
    campaignShape(compiled, context, config),
    config,
    options,
  );
  return (recipient) => compose(parts(recipient));
}
