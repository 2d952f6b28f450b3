// The exact message one subscriber would get from a campaign: the same compile, builder and
// headers the delivery workers use.
import type { Kysely } from 'kysely';
import { simpleParser } from 'mailparser';
import { requireCampaign } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { InputError } from '../errors/index.ts';
import type { Database } from '../store/schema.ts';
import { findSubscriberByEmail } from '../subscribers/repository.ts';
import { subscriberKeyOf } from '../tokens/subject.ts';
import type { BuiltMessage } from './message.ts';
import { campaignRenderer } from './renderer.ts';

/** No subscriber has the address to preview as. */
export class CampaignPreviewError extends InputError {
  constructor(message: string) {
    super('not_found', 'to', message);
    this.name = 'CampaignPreviewError';
  }
}

/** Builds the campaign's message for the subscriber with that address; also its HTML and text. */
export async function previewCampaign(
  db: Kysely<Database>,
  config: Config,
  campaignId: number,
  email: string,
): Promise<{ message: BuiltMessage; html: string; text: string; subscriberId: number }> {
  const campaign = await requireCampaign(db, campaignId);
  const subscriber = await findSubscriberByEmail(db, email);
  if (!subscriber) throw new CampaignPreviewError(`no subscriber with the address ${email}`);
  const renderer = await campaignRenderer(db, config, campaign);
  const followed = subscriber.topics.filter((topic) => campaign.audienceTopics.includes(topic));
  const message = renderer.build({
    subscriberId: subscriber.id,
    email: subscriber.email,
    name: subscriber.name,
    followedTopicNames: followed.map((topic) => renderer.topicNames[topic] ?? topic),
    tokenKey: (await subscriberKeyOf(db, subscriber.id)) ?? undefined,
  });
  const parsed = await simpleParser(message.raw);
  return {
    message,
    html: typeof parsed.html === 'string' ? parsed.html : '',
    text: parsed.text ?? '',
    subscriberId: subscriber.id,
  };
}
