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

type Render = (vars: PersonalVars) => Personalised;

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

/**
 * Compiles the text part into static runs (wrapped at compile time by html-to-text) and the
 * lines holding placeholders, which are wrapped after they are filled in: a line is only as
 * long as its filled-in value makes it. Lines end in CRLF, as a text/plain part should.
 */
function compileText(text: string): (values: Record<string, string>) => string {
  const pieces: Array<string | Handlebars.TemplateDelegate> = [];
  let run: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('{{')) {
      run.push(line);
      continue;
    }
    if (run.length) pieces.push(`${run.join('\r\n')}\r\n`);
    run = [];
    pieces.push(env.compile(line, { ...compileOptions, noEscape: true }));
  }
  const tail = run.join('\r\n');
  return (values) => {
    let out = '';
    for (const piece of pieces) {
      out += typeof piece === 'string' ? piece : `${wrapLine(piece(values)).join('\r\n')}\r\n`;
    }
    return tail ? out + tail : out.slice(0, -2);
  };
}

/** The "why you get this" sentence for a list of followed topic names. */
function reasonFor(topicNames: string[]): string {
  const topics = topicNames.map(displayName).filter((t) => t.length > 0);
  return topics.length
    ? `You get this email because you follow ${joinNames(topics)}.`
    : 'You get this email because you subscribed to these newsletters.';
}

/**
 * Returns the personaliser of a compiled newsletter: its two Handlebars templates are compiled
 * once (cached by the newsletter's hash) and each call only substitutes values.
 */
export function createPersonaliser(compiled: CompiledNewsletter): Render {
  const cached = renderers.get(compiled.hash);
  if (cached) return cached;
  const html = env.compile(compiled.html, compileOptions);
  const text = compileText(compiled.text);
  // Recipients share a handful of topic combinations: build each sentence once.
  const reasons = new Map<string, string>();
  const render: Render = (vars) => {
    const name = displayName(vars.name);
    const greeting = name ? `Hello ${name},` : 'Hello,';
    const key = vars.followedTopicNames.join('\u0001');
    let reason = reasons.get(key);
    if (reason === undefined) {
      reason = reasonFor(vars.followedTopicNames);
      if (reasons.size < 1_000) reasons.set(key, reason);
    }
    return {
      html: html({
        greeting,
        reason,
        unsubscribeUrl: escapeAttr(vars.unsubscribeUrl),
        preferencesUrl: escapeAttr(vars.preferencesUrl),
        clickUrls: vars.clickUrls,
        openPixel: vars.openPixel ?? '',
      }),
      text: text({
        greeting,
        reason,
        unsubscribeUrl: vars.unsubscribeUrl,
        preferencesUrl: vars.preferencesUrl,
      }),
    };
  };
  // Handlebars compiles lazily: render once now so the first recipient pays nothing extra
  // and a broken placeholder fails at campaign start, not mid-fan-out.
  render({ name: null, followedTopicNames: [], unsubscribeUrl: 'x', preferencesUrl: 'x' });
  renderers.set(compiled.hash, render);
  if (renderers.size > CACHE_LIMIT) renderers.delete(renderers.keys().next().value!);
  return render;
}
