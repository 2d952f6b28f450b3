// One subscriber's digest as they would receive it at an instant (editor and ops preview): the
// same article choice, compile and personalisation as the tick, nothing stored or queued.
import type { Kysely } from 'kysely';
import { simpleParser } from 'mailparser';
import { heldAlertsFor } from '../alerts/held.ts';
import { listArticlesForTopics } from '../articles/repository.ts';
import type { StoredArticle } from '../articles/schema.ts';
import type { Config } from '../config/index.ts';
import { type BuiltMessage, createMessageBuilder } from '../delivery/message.ts';
import { newsletterInput } from '../delivery/renderer.ts';
import { InputError } from '../errors/index.ts';
import type { Database } from '../store/schema.ts';
import { findSubscriberByEmail } from '../subscribers/repository.ts';
import { compileNewsletter } from '../templates/index.ts';
import { subscriberKeyOf } from '../tokens/subject.ts';
import { topicNames } from '../topics/catalogue.ts';
import { latestPeriod } from './period.ts';
import { DIGEST_MAX_ARTICLES, digestSubject, digestTopics, withHeldArticles } from './plan.ts';

/** No subscriber has the address (`to`, not found), or nothing is new at `at` (invalid). */
export class DigestPreviewError extends InputError {
  constructor(
    override readonly field: 'to' | 'at',
    message: string,
  ) {
    super(field === 'to' ? 'not_found' : 'invalid', field, message);
    this.name = 'DigestPreviewError';
  }
}

export interface DigestPreview {
  subscriberId: number;
  /** The window of articles: since the previous digest (or one period back) until `at`. */
  since: string;
  until: string;
  articles: StoredArticle[];
  message: BuiltMessage;
  html: string;
  /** The plain-text part and the subject, as the mail carries them. */
  text: string;
  subject: string;
}

/**
 * Builds the digest the subscriber with that address would get at `at` (whether or not it is
 * their send hour). Throws a DigestPreviewError when there is no such subscriber or nothing new.
 */
export async function previewDigest(
  db: Kysely<Database>,
  config: Config,
  email: string,
  at: Date,
): Promise<DigestPreview> {
  const subscriber = await findSubscriberByEmail(db, email);
  if (!subscriber) throw new DigestPreviewError('to', `no subscriber with the address ${email}`);
  const row = await db
    .selectFrom('subscribers')
    .select('last_digest_at')
    .where('id', '=', subscriber.id)
    .executeTakeFirstOrThrow();
  const frequency = subscriber.digest === 'weekly' ? 'weekly' : 'daily';
  const period = latestPeriod(
    {
      digest: frequency,
      sendHour: subscriber.sendHour,
      weekday: subscriber.digestWeekday,
      timezone: subscriber.timezone,
    },
    at,
  );
  // A digest already given this period: show what the next one would hold so far.
  const since = row.last_digest_at ?? period.previousStart.toISOString();
  const heldOnly = subscriber.digest === 'off';
  const topical = heldOnly
    ? []
    : await listArticlesForTopics(db, {
        topicIds: subscriber.topics,
        since,
        until: at.toISOString(),
        limit: DIGEST_MAX_ARTICLES,
      });
  const held = (await heldAlertsFor(db, [subscriber.id])).get(subscriber.id);
  const articles = withHeldArticles(held?.articles ?? [], topical);
  if (articles.length === 0) {
    throw new DigestPreviewError(
      'at',
      `nothing new for this subscriber's topics between ${since} and ${at.toISOString()}: no digest would be sent`,
    );
  }
  let topics = digestTopics(subscriber.topics, articles);
  if (topics.length === 0) topics = articles.flatMap((a) => a.topics).slice(0, 1);
  const names = await topicNames(db, topics);
  const compiled = await compileNewsletter(
    newsletterInput(
      {
        template: 'digest',
        subject: digestSubject(frequency, articles.length, heldOnly),
        audienceTopics: topics,
        // The masthead's date: the day the digest would go out.
        createdAt: at.toISOString(),
      },
      articles,
      names,
    ),
    config,
  );
  const build = createMessageBuilder(compiled, { campaignId: 0, kind: 'digest' }, config);
  const message = build({
    subscriberId: subscriber.id,
    email: subscriber.email,
    name: subscriber.name,
    followedTopicNames: topics.map((id) => names[id] ?? id),
    tokenKey: (await subscriberKeyOf(db, subscriber.id)) ?? undefined,
  });
  const parsed = await simpleParser(message.raw);
  return {
    subscriberId: subscriber.id,
    since,
    until: at.toISOString(),
    articles,
    message,
    html: typeof parsed.html === 'string' ? parsed.html : '',
    text: parsed.text ?? '',
    subject: parsed.subject ?? '',
  };
}
