// JSON articles: an object with the Article's fields (the schema checks them after parsing).
import type { ArticleDraft } from './draft.ts';
import { ArticleInputError } from './errors.ts';

/** Parses JSON text into a draft; the Article schema checks the fields afterwards. */
export function parseJson(text: string): ArticleDraft {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ArticleInputError('body', `the article is not valid JSON: ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArticleInputError('body', 'a JSON article must be an object with at least a title');
  }
  return value as ArticleDraft;
}
