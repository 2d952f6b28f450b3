// What a campaign is: the shape editors send in, and the shape the rest of Herald reads.
import { z } from 'zod';
import type { CampaignKind, CampaignRow, CampaignStatus } from '../store/schema.ts';
import {
  campaignTemplates,
  type StoredTemplateName,
  storedTemplate,
} from '../templates/catalogue.ts';

/** The templates a campaign may use: the template table's names (src/templates/catalogue.ts). */
export const templateChoices = campaignTemplates;

/** The largest id either store can hold (PostgreSQL `serial` is a 32-bit integer). */
export const MAX_ID = 2_147_483_647;

/** A line of text people read (subject, preheader): no control characters (PostgreSQL refuses NUL). */
export const noControlCharacters = (what: string) =>
  [
    (text: string) => !/[\u0000-\u001f\u007f]/.test(text),
    `the ${what} must not contain control characters or line breaks`,
  ] as const;

/** A store id: a positive whole number in range. */
export const storeId = (what: string) =>
  z.coerce
    .number()
    .int(`${what} ids are whole numbers`)
    .positive(`${what} ids are above 0`)
    .max(MAX_ID, `${what} ids are at most ${MAX_ID}`);

/** `a;b` or `["a","b"]` → list of distinct topic ids (a form's repeated field arrives as an array). */
export const topicList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => [
    ...new Set(
      (typeof value === 'string' ? value.split(';') : value).map((t) => t.trim()).filter(Boolean),
    ),
  ])
  .pipe(
    z
      .array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'topic ids are lower-case words joined by -'))
      .max(100, 'at most 100 topics'),
  );

export const createCampaignSchema = z.object({
  articleIds: z
    .array(storeId('article'))
    .min(1, 'name at least one article')
    .max(50, 'at most 50 articles per campaign'),
  topics: topicList.optional(),
  subject: z
    .string()
    .trim()
    .min(1, 'the subject must not be empty')
    .max(250)
    .refine(...noControlCharacters('subject'))
    .optional(),
  /** The inbox preview line after the subject (default: the first article's standfirst). */
  preheader: z
    .string()
    .trim()
    .max(250, 'the preheader is at most 250 characters')
    .refine(...noControlCharacters('preheader'))
    .optional(),
  template: z
    .enum(templateChoices, { message: `must be one of ${templateChoices.join(', ')}` })
    .default(templateChoices[0]),
  /** Send the first N paragraphs of each article and a "Continue reading" link. */
  excerpt: z.coerce
    .number()
    .int('excerpt is a whole number of paragraphs')
    .min(1, 'excerpt is at least 1 paragraph')
    .max(50, 'excerpt is at most 50 paragraphs')
    .optional(),
  /** false keeps the campaign out of the public archive (default: archived once sent). */
  archive: z.boolean('archive is true or false').optional(),
});

export type CreateCampaignInput = z.input<typeof createCampaignSchema>;
export type CreateCampaign = z.output<typeof createCampaignSchema>;

export interface Campaign {
  id: number;
  kind: CampaignKind;
  subject: string;
  /** The inbox preview line; null: the first article's standfirst or lead. */
  preheader: string | null;
  /** A welcome campaign names `welcome`; editors' campaigns one of templateChoices. */
  template: StoredTemplateName;
  articleIds: number[];
  audienceTopics: string[];
  /** Paragraphs of each article sent (the rest behind "Continue reading"); null: all. */
  excerpt: number | null;
  /** Whether the campaign, once sent, is in the public archive (src/archive). */
  archive: boolean;
  status: CampaignStatus;
  statusReason: string | null;
  scheduledAt: string | null;
  localTime: string | null;
  createdAt: string;
  startedAt: string | null;
  preparedAt: string | null;
  finishedAt: string | null;
}

/** Reads a stored row into a Campaign. */
export function toCampaign(row: CampaignRow): Campaign {
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    preheader: row.preheader ?? null,
    template: storedTemplate(row.template, `campaign ${row.id}`),
    articleIds: JSON.parse(row.article_ids) as number[],
    audienceTopics: JSON.parse(row.audience_topics) as string[],
    excerpt: row.excerpt_paragraphs ?? null,
    archive: Number(row.archived) !== 0,
    status: row.status,
    statusReason: row.status_reason,
    scheduledAt: row.scheduled_at,
    localTime: row.local_time,
    createdAt: row.created_at,
    startedAt: row.started_at,
    preparedAt: row.prepared_at,
    finishedAt: row.finished_at,
  };
}

/** The states from which each editor action is allowed. */
export const transitions = {
  send: ['draft', 'scheduled'],
  schedule: ['draft', 'scheduled'],
  pause: ['sending', 'scheduled'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'sending', 'paused'],
} as const satisfies Record<string, readonly CampaignStatus[]>;

export type CampaignAction = keyof typeof transitions;
