// Editing a campaign's words and audience before it sends (the console's campaign page): the
// subject, the preheader (the inbox preview line) and the audience topics, while the campaign
// is a draft or scheduled. Also the length advice inboxes call for: mailbox providers cut a
// subject near 60-70 characters and a preheader near 90-100, so a longer one is warned about,
// never refused.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { CampaignStatus, Database } from '../store/schema.ts';
import { type Campaign, noControlCharacters, topicList } from './model.ts';
import { CampaignError, requireCampaign, requireKnownTopics } from './repository.ts';

/** From this many characters a subject is likely cut in inbox lists (phones cut sooner). */
export const SUBJECT_SOFT_LIMIT = 60;
/** From this many characters a preheader is likely cut after the subject. */
export const PREHEADER_SOFT_LIMIT = 90;

/** The states in which a campaign's words and audience may still change. */
export const EDITABLE_STATUSES = ['draft', 'scheduled'] as const satisfies CampaignStatus[];

export const editCampaignSchema = z.object({
  subject: z
    .string('the subject is text')
    .trim()
    .min(1, 'the subject must not be empty')
    .max(250, 'the subject is at most 250 characters')
    .refine(...noControlCharacters('subject')),
  /** Empty: back to the default preview line (the first article's standfirst). */
  preheader: z
    .string('the preheader is text')
    .trim()
    .max(250, 'the preheader is at most 250 characters')
    .refine(...noControlCharacters('preheader'))
    .default(''),
  topics: topicList.pipe(z.array(z.string()).min(1, 'choose at least one audience topic')),
});

export type EditCampaign = z.output<typeof editCampaignSchema>;

/** What an editor should hear about the lengths (null: fine). */
export interface LengthAdvice {
  subject: string | null;
  preheader: string | null;
}

/** Length warnings for a subject and preheader (counted in characters as people see them). */
export function lengthAdvice(subject: string, preheader: string): LengthAdvice {
  const subjectLength = [...subject.trim()].length;
  const preheaderLength = [...preheader.trim()].length;
  return {
    subject:
      subjectLength > SUBJECT_SOFT_LIMIT
        ? `${subjectLength} characters: inboxes often cut subjects after about ${SUBJECT_SOFT_LIMIT}; put the key words first`
        : null,
    preheader:
      preheaderLength > PREHEADER_SOFT_LIMIT
        ? `${preheaderLength} characters: inboxes often show only the first ${PREHEADER_SOFT_LIMIT} or so`
        : null,
  };
}

/**
 * Changes the subject, preheader and audience topics of a draft or scheduled campaign; a
 * 409 CampaignError once it has started, a 400 naming an unknown topic. Returns the campaign.
 * The caller drops any compiled renderer of it (src/delivery/renderer.ts).
 */
export async function editCampaign(
  db: Kysely<Database>,
  id: number,
  input: EditCampaign,
  now: string,
): Promise<Campaign> {
  const campaign = await requireCampaign(db, id);
  const refuse = () =>
    new CampaignError(
      `cannot edit campaign ${id}: it is ${campaign.status} (editable while ${EDITABLE_STATUSES.join(' or ')})`,
      'status',
      409,
    );
  if (!(EDITABLE_STATUSES as readonly string[]).includes(campaign.status)) throw refuse();
  await requireKnownTopics(db, input.topics);
  const result = await db
    .updateTable('campaigns')
    .set({
      subject: input.subject,
      preheader: input.preheader === '' ? null : input.preheader,
      audience_topics: JSON.stringify(input.topics),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('status', 'in', [...EDITABLE_STATUSES])
    .executeTakeFirst();
  // It moved on (sent by a schedule, or another editor) between the read and the write.
  if (Number(result.numUpdatedRows) === 0) throw refuse();
  return requireCampaign(db, id);
}
