// What the console's article pages read from their forms, and how they turn the article
// helpers' results into what a page shows: plain functions, so the routes stay wiring.
import { z } from 'zod';
import { ArticleInputError } from '../../../articles/errors.ts';
import { MAX_ARTICLE_BYTES } from '../../../articles/parse.ts';
import { ArticleParseLimitError } from '../../../articles/parse-pool.ts';
import type { Catalogue } from '../../../topics/catalogue.ts';
import type { TopicExplanation } from '../../../topics/match.ts';

/** The formats a pasted article may be read as; `detect` lets the parser look at the text. */
export const PASTE_FORMATS = {
  detect: { label: 'Detect from the text', contentType: undefined },
  text: { label: 'Plain text (title on the first line)', contentType: 'text/plain' },
  markdown: { label: 'Markdown with front matter', contentType: 'text/markdown' },
  json: { label: 'JSON', contentType: 'application/json' },
  html: { label: 'HTML page', contentType: 'text/html' },
} as const;

export type PasteFormat = keyof typeof PASTE_FORMATS;

const pasteFormatSchema = z.enum(Object.keys(PASTE_FORMATS) as [PasteFormat, ...PasteFormat[]], {
  message: 'format must be one of: detect, text, markdown, json, html',
});

/** The paste form: the article text and the format to read it as. */
export const pasteFormSchema = z.object({
  format: pasteFormatSchema.default('detect'),
  body: z
    .string({ message: 'paste the article text' })
    .refine((text) => text.trim().length > 0, 'paste the article text'),
});

/** The URL form: an absolute http(s) URL, at most 2,000 characters. */
export const urlFormSchema = z.object({
  url: z
    .string({ message: 'give the address of the article page' })
    .trim()
    .min(1, 'give the address of the article page')
    .max(2000, 'the address is at most 2,000 characters'),
});

/** The topic override form: the checked topic ids (one checkbox sends a string, none nothing). */
export const topicsFormSchema = z.object({
  topics: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]))
    .pipe(z.array(z.string().max(100)).max(200, 'at most 200 topics')),
});

/** An article id in a path. */
export const articleIdParams = z.object({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});

/** Field name → message, what a form shows next to each field. */
export type FieldErrors = Record<string, string>;

/** The first message per field of a zod error. */
export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const field = issue.path.length > 0 ? String(issue.path[0]) : 'form';
    errors[field] ??= issue.message;
  }
  return errors;
}

/**
 * The page status and field message for an error the ingest can fix (bad article, over a
 * parse limit), or null for anything else (our own fault: rethrown). `field` is the form field
 * the article came in.
 */
export function ingestFailure(
  error: unknown,
  field: string,
): { status: number; errors: FieldErrors } | null {
  if (error instanceof ArticleInputError) {
    // The fetch's own errors name `url`; the parser's name the article field (title, body…).
    const onField = error.field === 'url' ? 'url' : field;
    const prefix = error.field === 'url' || error.field === 'body' ? '' : `${error.field}: `;
    return { status: 422, errors: { [onField]: `${prefix}${error.message}` } };
  }
  if (error instanceof ArticleParseLimitError) {
    return { status: error.limit === 'queue' ? 429 : 422, errors: { [field]: error.message } };
  }
  // An article the parser made that the schema refuses (a JSON body without paragraphs…).
  if (error instanceof z.ZodError) {
    const issue = error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { status: 422, errors: { [field]: `not an article: ${where}${issue?.message ?? ''}` } };
  }
  return null;
}

/** "2 MB": the upload and paste cap, as the forms state it. */
export const ARTICLE_LIMIT_TEXT = `${MAX_ARTICLE_BYTES / 1024 / 1024} MB`;

/** One topic as the article page shows it: name, whether tagged, strength and matched terms. */
export interface TopicRow {
  id: string;
  name: string;
  /** On the article now (stored). */
  tagged: boolean;
  /** What the matcher finds in the text. */
  matched: boolean;
  strength: number;
  /** "russia: Lavrov ×6, Moscow ×2" per concept that has any term. */
  concepts: Array<{ concept: string; min: number; strength: number; terms: string[] }>;
}

/**
 * Every catalogue topic with what the matcher finds for it, the stored topics first (in their
 * stored order), then the others by strength: the article page's topic panel and checkboxes.
 */
export function topicRows(
  catalogue: Catalogue,
  stored: readonly string[],
  explained: readonly TopicExplanation[],
): TopicRow[] {
  const byId = new Map(explained.map((e) => [e.topicId, e]));
  const rows = catalogue.map((topic): TopicRow => {
    const e = byId.get(topic.id);
    return {
      id: topic.id,
      name: topic.name,
      tagged: stored.includes(topic.id),
      matched: e?.matched ?? false,
      strength: e?.strength ?? 0,
      concepts: (e?.concepts ?? []).map((c) => ({
        concept: c.concept,
        min: c.min,
        strength: c.strength,
        terms: c.terms.map((t) => `${t.term} (${t.strength})`),
      })),
    };
  });
  const rank = (row: TopicRow) => {
    const at = stored.indexOf(row.id);
    return at === -1 ? stored.length : at;
  };
  return rows.sort(
    (a, b) => rank(a) - rank(b) || b.strength - a.strength || a.name.localeCompare(b.name),
  );
}

const DATE_FORMAT = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});
const TIME_FORMAT = new Intl.DateTimeFormat('en-GB', {
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'UTC',
  hourCycle: 'h23',
});

/** "2 Dec 2026" (UTC) for an ISO instant; '' for none. Views get it as `it.date`. */
export function displayDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : DATE_FORMAT.format(at);
}

/** "2 Dec 2026, 07:00 UTC" for an ISO instant; '' for none. Views get it as `it.dateTime`. */
export function displayDateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const at = new Date(iso);
  return Number.isNaN(at.getTime())
    ? ''
    : `${DATE_FORMAT.format(at)}, ${TIME_FORMAT.format(at)} UTC`;
}
