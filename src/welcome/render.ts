// Renders a welcome campaign with its own MJML layout (templates/layouts/welcome.mjml),
// reusing the header and footer partials so personalisation (greeting, unsubscribe and
// preferences links, reason) works as in every newsletter.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Handlebars from 'handlebars';
import type { Kysely } from 'kysely';
import { DateTime, Info } from 'luxon';
import type { Config } from '../config/index.ts';
import type { Database } from '../store/schema.ts';
import { newsroomDb } from '../store/schema-newsroom.ts';
import { TEMPLATES } from '../templates/catalogue.ts';
import {
  type CompiledNewsletter,
  defuseBraces,
  htmlToText,
  senderName,
  templatesDir,
} from '../templates/index.ts';
import { mjmlToHtml } from '../templates/mjml-process.ts';
import { topicNames } from '../topics/catalogue.ts';
import { NO_TOPIC, WELCOME_SUBJECT } from './create.ts';

let layout: Handlebars.TemplateDelegate | undefined;

function welcomeTemplate(): Handlebars.TemplateDelegate {
  if (layout) return layout;
  const read = (path: string) => readFileSync(resolve(templatesDir, path), 'utf8');
  const handlebars = Handlebars.create();
  handlebars.registerPartial('header', read('partials/header.mjml'));
  handlebars.registerPartial('footer', read('partials/footer.mjml'));
  layout = handlebars.compile(read(TEMPLATES.welcome.layout), { strict: false });
  return layout;
}

/** "a daily digest at 07:00 (Europe/Paris)", or that there is none. */
export function digestSentence(subscriber: {
  digest: string;
  send_hour: number;
  digest_weekday: number;
  timezone: string;
}): string {
  const time = `${String(subscriber.send_hour).padStart(2, '0')}:00`;
  if (subscriber.digest === 'daily') {
    return `A daily digest of your topics, every day at ${time} (${subscriber.timezone}).`;
  }
  if (subscriber.digest === 'weekly') {
    const day = Info.weekdays('long', { locale: 'en' })[subscriber.digest_weekday - 1] ?? 'Monday';
    return `A weekly digest of your topics, every ${day} at ${time} (${subscriber.timezone}).`;
  }
  return 'No digest: you chose not to receive one.';
}

/** Compiles a welcome campaign for its one subscriber (placeholders kept for personalising). */
export async function compileWelcome(
  db: Kysely<Database>,
  config: Config,
  // A structural slice of a Campaign (src/campaigns/model.ts): welcome sits below campaigns.
  campaign: { id: number; audienceTopics: readonly string[] },
): Promise<CompiledNewsletter> {
  const subscriber = await newsroomDb(db)
    .selectFrom('welcome_mails as w')
    .innerJoin('subscribers as s', 's.id', 'w.subscriber_id')
    .select(['s.digest', 's.send_hour', 's.digest_weekday', 's.timezone'])
    .where('w.campaign_id', '=', campaign.id)
    .executeTakeFirst();
  if (!subscriber) throw new Error(`welcome campaign ${campaign.id} has no subscriber`);
  const names = await topicNames(
    db,
    campaign.audienceTopics.filter((t) => t !== NO_TOPIC),
  );
  const topics = Object.values(names).sort().map(defuseBraces);
  const digest = digestSentence(subscriber);
  const view = {
    subject: WELCOME_SUBJECT,
    preview: 'Your subscription is confirmed.',
    brand: defuseBraces(senderName(config.MAIL_FROM)),
    postalAddress: defuseBraces(config.POSTAL_ADDRESS),
    topics,
    digest: defuseBraces(digest),
  };
  const html = await mjmlToHtml(welcomeTemplate()(view));
  const hash = createHash('sha256')
    .update(JSON.stringify([view, DateTime.now().toISODate()]))
    .digest('hex');
  return { hash, subject: WELCOME_SUBJECT, html, text: htmlToText(html) };
}
