// Front matter of a Markdown article: YAML only, data only. gray-matter's default engines ran
// `---js` front matter through eval (issue 11); here any language marker but YAML is refused
// and the YAML is read with the core schema and no custom tags, so it can only make data.
import { parseDocument } from 'yaml';
import { ArticleInputError } from './errors.ts';

/** The largest front matter accepted, in characters. */
export const MAX_FRONT_MATTER_CHARS = 32 * 1024;

/** Markers after the opening `---` that still mean YAML. */
const YAML_MARKERS = new Set(['', 'yaml', 'yml']);

export interface FrontMatter {
  data: Record<string, unknown>;
  /** The Markdown after the front matter. */
  content: string;
}

/**
 * Splits YAML front matter off a Markdown text (`---` … `---` or `...` at the very start) and
 * parses it as data. Throws an ArticleInputError ('front matter') naming a non-YAML language
 * marker, a YAML error, an unknown tag, or front matter that is not key: value pairs.
 */
export function splitFrontMatter(text: string): FrontMatter {
  const firstEnd = text.indexOf('\n');
  const firstLine = (firstEnd === -1 ? text : text.slice(0, firstEnd)).replace(/\r$/, '');
  // `---` opens front matter; a longer run of dashes is a thematic break, not an opening.
  if (!firstLine.startsWith('---') || firstLine.startsWith('----')) {
    return { data: {}, content: text };
  }
  const marker = firstLine.slice(3).trim();
  if (!YAML_MARKERS.has(marker.toLowerCase())) {
    throw new ArticleInputError(
      'front matter',
      `front matter language "${marker.slice(0, 40)}" is not accepted: front matter is YAML only (open it with a bare ---)`,
    );
  }
  // Find the closing line (`---` or `...`) by scanning lines: no regex over untrusted text.
  let start = firstEnd === -1 ? text.length : firstEnd + 1;
  let closing = -1;
  let after = text.length;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const lineEnd = end === -1 ? text.length : end;
    const line = text.slice(start, lineEnd).replace(/\r$/, '').trimEnd();
    if (line === '---' || line === '...') {
      closing = start;
      after = end === -1 ? text.length : end + 1;
      break;
    }
    if (start - firstEnd > MAX_FRONT_MATTER_CHARS) break;
    start = lineEnd + 1;
  }
  if (closing === -1) {
    throw new ArticleInputError(
      'front matter',
      start - firstEnd > MAX_FRONT_MATTER_CHARS
        ? `the front matter is longer than ${MAX_FRONT_MATTER_CHARS / 1024} kB (the limit) or is never closed with ---`
        : 'the front matter is never closed with a --- line',
    );
  }
  const yamlText = text.slice(firstEnd + 1, closing);
  return { data: parseYamlData(yamlText), content: text.slice(after) };
}

/** Parses front-matter YAML into plain data, or throws an ArticleInputError saying why not. */
function parseYamlData(yamlText: string): Record<string, unknown> {
  // Core schema: strings, numbers, booleans, null, lists and maps; no custom tags, so a tag such
  // as !!js/function stays unknown and is refused below instead of building anything.
  const document = parseDocument(yamlText, {
    schema: 'core',
    customTags: [],
    uniqueKeys: true,
    prettyErrors: false,
  });
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem) {
    const reason = problem.message.split('\n')[0];
    throw new ArticleInputError('front matter', `the YAML front matter is not valid: ${reason}`);
  }
  let data: unknown;
  try {
    // Aliases are data too, but a few of them can expand into gigabytes ("billion laughs").
    data = document.toJS({ maxAliasCount: 20 });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ArticleInputError('front matter', `the YAML front matter is not valid: ${reason}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ArticleInputError('front matter', 'the front matter must be key: value pairs');
  }
  // A copy without a prototype-bearing key: `__proto__:` in YAML must stay inert data.
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    out[key] = value;
  }
  return out;
}
