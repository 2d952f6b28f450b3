// "Send a test": the campaign's message, as it will look, to one address an editor names,
// through the real transport. It is no part of the campaign: no ledger row, no tracked links,
// no engagement, and its unsubscribe and preference links name no subscriber (they do not
// verify), so a colleague clicking around a test changes nothing.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { loadArticles, requireCampaign } from '../campaigns/repository.ts';
import type { Config } from '../config/index.ts';
import { invalid } from '../errors/index.ts';
import type { MailTransport } from '../mail/transport.ts';
import type { Database } from '../store/schema.ts';
import { compileNewsletter } from '../templates/index.ts';
import { topicNames } from '../topics/catalogue.ts';
import { createMessageBuilder } from './message.ts';
import { newsletterInput } from './renderer.ts';

export const testSendSchema = z.object({
  to: z
    .string('the address is text')
    .trim()
    .min(1, 'give the address to send the test to')
    .max(254, 'an address is at most 254 characters')
    .pipe(z.email('must be an email address like name@example.org')),
});

/** Subject prefix that marks a test in the inbox. */
export const TEST_SUBJECT_PREFIX = '[Test] ';

/**
 * Builds the campaign's newsletter for `to` and hands it to the transport; returns the
 * server's reply. A refusal rejects with the transport's MailSendError.
 */
export async function sendCampaignTest(
  db: Kysely<Database>,
  config: Config,
  transport: MailTransport,
  campaignId: number,
  to: string,
): Promise<{ response: string; messageId: string }> {
  const campaign = await requireCampaign(db, campaignId);
  if (campaign.kind === 'welcome') {
    throw invalid('id', 'a welcome campaign is sent by the opt-in, not tested from here');
  }
  const articles = await loadArticles(db, campaign.articleIds);
  const names = await topicNames(db, campaign.audienceTopics);
  const compiled = await compileNewsletter(
    newsletterInput(campaign, articles, names, config.PUBLIC_URL),
    config,
  );
  // campaignId 0: tokens carry no campaign and nothing counts against this one.
  const build = createMessageBuilder(
    { ...compiled, subject: `${TEST_SUBJECT_PREFIX}${compiled.subject}` },
    { campaignId: 0, kind: campaign.kind },
    config,
  );
  const message = build({
    subscriberId: 0,
    email: to,
    name: null,
    followedTopicNames: campaign.audienceTopics.map((topic) => names[topic] ?? topic),
  });
  const { response } = await transport.send(message);
  return { response, messageId: message.messageId };
}
