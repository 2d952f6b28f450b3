// An article rendered as one subscriber would receive it as an alert (editor preview).
import type { Kysely } from 'kysely';
import { simpleParser } from 'mailparser';
import { getArticle } from '../articles/repository.ts';
import type { Config } from '../config/index.ts';
import { type BuiltMessage, createMessageBuilder } from '../delivery/message.ts';
import { InputError } from '../errors/index.ts';
import type { Database } from '../store/schema.ts';
import { findSubscriberByEmail } from '../subscribers/repository.ts';
import { topicNames } from '../topics/catalogue.ts';
import { compileNewsletter, type NewsletterInput } from './index.ts';

/** No article with the id, or no subscriber with the address, to preview with. */
export class PreviewError extends InputError {
  constructor(
    override readonly field: 'article' | 'to',
    message: string,
  ) {
    super('not_found', field, message);
    this.name = 'PreviewError';
  }
}

export interface Preview {
  message: BuiltMessage;
  /** The HTML part exactly as it is in the message. */
  html: string;
  subscriberId: number;
}

/**
 * Builds the alert for one stored article as the subscriber with that address would receive
 * it: same compile, same personalisation, same headers (no campaign: campaign id 0).
 */
export async function previewArticle(
  db: Kysely<Database>,
  config: Config,
  articleId: number,
  email: string,
): Promise<Preview> {
  const article = await getArticle(db, articleId);
  if (!article) throw new PreviewError('article', `no article with id ${articleId}`);
  const subscriber = await findSubscriberByEmail(db, email);
  if (!subscriber) throw new PreviewError('to', `no subscriber with the address ${email}`);
  const names = await topicNames(db, [...article.topics, ...subscriber.topics]);
  const topicId = article.topics.find((id) => names[id]) ?? '';
  const input: NewsletterInput = {
    template: 'alert',
    subject: article.title,
    groups: [{ topicId, topicName: names[topicId] ?? 'News', articles: [article] }],
  };
  const compiled = await compileNewsletter(input, config);
  const followed = subscriber.topics.filter((id) => article.topics.includes(id));
  const build = createMessageBuilder(compiled, { campaignId: 0, kind: 'campaign' }, config);
  const message = build({
    subscriberId: subscriber.id,
    email: subscriber.email,
    name: subscriber.name,
    followedTopicNames: (followed.length ? followed : subscriber.topics).map(
      (id) => names[id] ?? id,
    ),
  });
  const parsed = await simpleParser(message.raw);
  return {
    message,
    html: typeof parsed.html === 'string' ? parsed.html : '',
    subscriberId: subscriber.id,
  };
}
