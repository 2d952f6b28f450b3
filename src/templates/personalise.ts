// Per-recipient personalisation: the compiled newsletter's placeholders filled by precompiled
// Handlebars templates (HTML-escaping on for the HTML part). Never runs MJML.
import Handlebars from 'handlebars';
import type { CompiledNewsletter } from './index.ts';

/** What one recipient's copy varies by. URLs are raw; they are escaped here for HTML. */
export interface PersonalVars {
  /** The subscriber's display name, or null. */
  name: string | null;
  /** Display names of the topics the subscriber follows (that this newsletter is about). */
  followedTopicNames: string[];
  unsubscribeUrl: string;
  preferencesUrl: string;
  /** Click-tracking URLs, by link index (src/engagement/links.ts), HTML-attribute safe. */
  clickUrls?: readonly string[];
  /** The open-tracking image tag, or '' (no consent, or open tracking off). */
  openPixel?: string;
}

export interface Personalised {
  html: string;
  text: string;
}

/**
 * A recipient's copy as the template's static runs with this recipient's values between them
 * (`runs.length = values.length + 1`): the mail builder encodes the runs once per campaign.
 */
export interface PersonalisedPieces {
  html: readonly string[];
  text: readonly string[];
}

export interface Render {
  (vars: PersonalVars): Personalised;
  /** The static runs of the HTML and text parts, shared by every recipient. */
  readonly runs: { readonly html: readonly string[]; readonly text: readonly string[] };
  /** The values that go between the runs for one recipient. */
  values(vars: PersonalVars): PersonalisedPieces;
}

const env = Handlebars.create();
// Not `strict`: its checked lookups cost a third of a render; the warm-up render below
// already fails fast on a missing placeholder value.
const compileOptions = { knownHelpersOnly: true, data: false } as const;
const CACHE_LIMIT = 64;
const renderers = new Map<string, Render>();

const MAX_NAME = 80;
// Most names need no cleaning: skip the regex chain for them (the hot path).
const SIMPLE_NAME = /^[\p{L}\p{M}\p{N}.'’-]+(?: [\p{L}\p{M}\p{N}.'’-]+){0,5}$/u;
const NEEDS_ESCAPE = /[&<>"']/;

/** A name safe to show: control characters and runs of whitespace become one space, capped. */
export function displayName(name: string | null | undefined): string {
  if (!name) return '';
  if (name.length <= MAX_NAME && SIMPLE_NAME.test(name)) return name;
  const clean = name
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    // Braces stay, but never as a pair that reads like a placeholder.
    .replace(/\{(?=\{)/g, '{\u200b')
    .replace(/\}(?=\})/g, '}\u200b');
  return clean.length > MAX_NAME ? `${clean.slice(0, MAX_NAME - 1)}…` : clean;
}

/** "A", "A and B", "A, B and C". */
export function joinNames(names: string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** Escapes a URL for an HTML attribute (& < > " '), once, so the template can use {{{ }}}. */
function escapeAttr(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Width of the text part's lines (RFC 3676's recommended at most 78). */
const TEXT_WIDTH = 78;

/**
 * Wraps one line at spaces so no piece exceeds `width` unless it is a single word (a URL);
 * greedy, as html-to-text wraps the rest of the text part.
 */
export function wrapLine(line: string, width = TEXT_WIDTH): string[] {
  if (line.length <= width) return [line];
  const lines: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current === '') current = word;
    else if (current.length + 1 + word.length <= width) current += ` ${word}`;
    else {
      lines.push(current);
      current = word;
    }
  }
  lines.push(current);
  return lines;
}

/** The text part as static runs and the lines holding placeholders between them. */
interface TextTemplate {
  runs: string[];
  values(values: Record<string, string>): string[];
}

/**
 * Compiles the text part into static runs (wrapped at compile time by html-to-text) and the
 * lines holding placeholders, which are wrapped after they are filled in: a line is only as
 * long as its filled-in value makes it. Lines end in CRLF, as a text/plain part should.
 */
function compileText(text: string): TextTemplate {
  const runs: string[] = [];
  const lines: Handlebars.TemplateDelegate[] = [];
  let run: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('{{')) {
      run.push(line);
      continue;
    }
    runs.push(run.length ? `${run.join('\r\n')}\r\n` : '');
    run = [];
    lines.push(env.compile(line, { ...compileOptions, noEscape: true }));
  }
  const tail = run.join('\r\n');
  runs.push(tail);
  return {
    runs,
    values: (values) =>
      lines.map((line, index) => {
        const filled = wrapLine(line(values)).join('\r\n');
        // The last line of a part with nothing after it carries no line break.
        return index === lines.length - 1 && tail === '' ? filled : `${filled}\r\n`;
      }),
  };
}

/** One placeholder of the HTML part: a value by name, HTML-escaped (`{{x}}`) or not (`{{{x}}}`). */
interface HtmlSlot {
  name: string;
  /** For `{{{clickUrls.[N]}}}`: the link index. */
  index?: number;
  escape: boolean;
}

const HTML_SLOT = /\{\{\{(\w+)(?:\.\[(\d+)\])?\}\}\}|\{\{(\w+)\}\}/g;

/**
 * Splits the HTML part at its placeholders, or returns null when it holds Handlebars syntax
 * beyond plain values (then Handlebars renders it whole for every recipient).
 */
function splitHtml(html: string): { runs: string[]; slots: HtmlSlot[] } | null {
  const runs: string[] = [];
  const slots: HtmlSlot[] = [];
  let last = 0;
  for (const match of html.matchAll(HTML_SLOT)) {
    runs.push(html.slice(last, match.index));
    slots.push(
      match[3] !== undefined
        ? { name: match[3], escape: true }
        : { name: match[1]!, escape: false, ...(match[2] ? { index: Number(match[2]) } : {}) },
    );
    last = match.index + match[0].length;
  }
  runs.push(html.slice(last));
  return runs.some((run) => run.includes('{{') || run.includes('}}')) ? null : { runs, slots };
}

/** The "why you get this" sentence for a list of followed topic names. */
function reasonFor(topicNames: string[]): string {
  const topics = topicNames.map(displayName).filter((t) => t.length > 0);
  return topics.length
    ? `You get this email because you follow ${joinNames(topics)}.`
    : 'You get this email because you subscribed to these newsletters.';
}

/** The values the HTML part's placeholders take for one recipient. */
type HtmlValues = Record<string, unknown> & { clickUrls?: readonly string[] };

/**
 * Returns the personaliser of a compiled newsletter: its templates are compiled once (cached by
 * the newsletter's hash) and each call only substitutes values. The HTML part is cut at its
 * placeholders so that each recipient's values are the only text made per message; a part
 * holding other Handlebars syntax is rendered whole by Handlebars instead.
 */
export function createPersonaliser(compiled: CompiledNewsletter): Render {
  const cached = renderers.get(compiled.hash);
  if (cached) return cached;
  const htmlTemplate = env.compile(compiled.html, compileOptions);
  const text = compileText(compiled.text);
  const split = checkedSplit(compiled.html, htmlTemplate);
  const htmlRuns = split ? split.runs : ['', ''];
  const htmlValues = (values: HtmlValues): string[] =>
    split ? slotValues(split.slots, values) : [htmlTemplate(values)];
  // Recipients share a handful of topic combinations: build each sentence once.
  const reasons = new Map<string, string>();
  const values = (vars: PersonalVars): PersonalisedPieces => {
    const name = displayName(vars.name);
    const greeting = name ? `Hello ${name},` : 'Hello,';
    const key = vars.followedTopicNames.join('\u0001');
    let reason = reasons.get(key);
    if (reason === undefined) {
      reason = reasonFor(vars.followedTopicNames);
      if (reasons.size < 1_000) reasons.set(key, reason);
    }
    return {
      html: htmlValues({
        greeting,
        reason,
        unsubscribeUrl: escapeAttr(vars.unsubscribeUrl),
        preferencesUrl: escapeAttr(vars.preferencesUrl),
        clickUrls: vars.clickUrls,
        openPixel: vars.openPixel ?? '',
      }),
      text: text.values({
        greeting,
        reason,
        unsubscribeUrl: vars.unsubscribeUrl,
        preferencesUrl: vars.preferencesUrl,
      }),
    };
  };
  const render = Object.assign(
    (vars: PersonalVars): Personalised => {
      const pieces = values(vars);
      return { html: join(htmlRuns, pieces.html), text: join(text.runs, pieces.text) };
    },
    { runs: { html: htmlRuns, text: text.runs }, values },
  );
  // Handlebars compiles lazily: render once now so the first recipient pays nothing extra
  // and a broken placeholder fails at campaign start, not mid-fan-out.
  render({ name: null, followedTopicNames: [], unsubscribeUrl: 'x', preferencesUrl: 'x' });
  renderers.set(compiled.hash, render);
  if (renderers.size > CACHE_LIMIT) renderers.delete(renderers.keys().next().value!);
  return render;
}

/** The slots' values for one recipient, escaped as Handlebars escapes `{{x}}`. */
function slotValues(slots: readonly HtmlSlot[], values: HtmlValues): string[] {
  return slots.map((slot) => {
    const value = slot.index === undefined ? values[slot.name] : values.clickUrls?.[slot.index];
    if (value === undefined || value === null) return '';
    return slot.escape ? Handlebars.Utils.escapeExpression(String(value)) : String(value);
  });
}

/** Values that exercise every kind of slot and every character Handlebars escapes. */
const SAMPLE_VALUES: HtmlValues = {
  greeting: `Hello Zoë <b>&"'\`=,`,
  reason: 'You follow A & B.',
  unsubscribeUrl: 'https://x.example/u?a=1&amp;b=2',
  preferencesUrl: 'https://x.example/p',
  openPixel: '<img src="https://x.example/o" alt="">',
};

/**
 * The HTML part cut at its placeholders, or null (render whole) when the cut does not read
 * exactly as Handlebars renders the whole part: a template this cut does not understand is
 * still rendered correctly, only slower.
 */
function checkedSplit(
  html: string,
  template: Handlebars.TemplateDelegate,
): { runs: string[]; slots: HtmlSlot[] } | null {
  const split = splitHtml(html);
  if (!split) return null;
  const values = {
    ...SAMPLE_VALUES,
    clickUrls: split.slots.map((_, index) => `https://x.example/r/${index}`),
  };
  return join(split.runs, slotValues(split.slots, values)) === template(values) ? split : null;
}

/** Runs with values between them. */
function join(runs: readonly string[], values: readonly string[]): string {
  let out = runs[0] ?? '';
  for (let i = 1; i < runs.length; i++) out += values[i - 1]! + runs[i]!;
  return out;
}
